// What the edge does with the identity it verified (digest username): the replay check shared by all
// replicas, and the rule that with authentication on a request's From names the authenticated user.

import type { DigestAuthenticator, HeaderField, SipRequest } from '@sip-pubsub/sip';
import { getHeader, parseNameAddr, parseUri } from '@sip-pubsub/sip';
import type { Admission } from './admission.js';

export interface Refusal {
  status: number;
  reason: string;
  headers: HeaderField[];
  cause: 'replay' | 'auth-store' | 'identity';
}

/** Claims the admitted nonce-count in the shared store: null when first used; else the refusal to send. */
export async function confirmNonceUse(
  authenticator: DigestAuthenticator,
  admitted: Extract<Admission, { kind: 'admit' }>,
): Promise<Refusal | null> {
  if (!admitted.nonceUse) return null;
  let again: Awaited<ReturnType<DigestAuthenticator['claim']>>;
  try {
    again = await authenticator.claim({ kind: 'authenticated', username: '', nonceUse: admitted.nonceUse });
  } catch {
    // Fail closed: without the shared counts a replay through this replica could not be told apart.
    return {
      status: 503,
      reason: 'Authentication State Unavailable',
      headers: [{ name: 'Retry-After', value: '1' }],
      cause: 'auth-store',
    };
  }
  if (again === null || again.kind !== 'rejected') return null;
  return {
    status: again.status,
    reason: 'Nonce Count Already Used',
    headers: again.headers,
    cause: 'replay',
  };
}

/**
 * With authentication on, From must name the authenticated user: a sip/sips URI whose user part is the
 * digest username (the host is not compared: a UA may use the domain or an address). Returns the reason
 * of a 403, or undefined when From matches.
 */
export function fromIdentityRefusal(req: SipRequest, username: string): string | undefined {
  let user: string | undefined;
  try {
    const uri = parseUri(parseNameAddr(getHeader(req, 'From') ?? '').uri);
    user = uri.scheme === 'sip' || uri.scheme === 'sips' ? uri.user : undefined;
  } catch {
    user = undefined;
  }
  if (user !== undefined && decodeUser(user) === username) return undefined;
  return 'From Does Not Match Authenticated Identity';
}

/** RFC 3261 §19.1.2: the user part may be escaped; compare its unescaped form. */
function decodeUser(user: string): string {
  try {
    return decodeURIComponent(user);
  } catch {
    return user;
  }
}
