// Identity and access at the focus: the authenticated identity the edge passed (authenticated_identity)
// owns the dialogs it creates and is what the roster shows; the access list says who may create a topic
// and publish or subscribe to it (PROFILE.md "Security").
import { type AccessAction, type AccessList, accessRefusalReason } from '@sip-pubsub/events';
import type { Role } from '@sip-pubsub/media';

/** The SIP URI naming an authenticated user in this broker's domain (roster entity, creator). */
export function identityUri(identity: string, domain: string): string {
  // RFC 3261 §25.1 user part: unreserved and user-unreserved characters stay, the rest is escaped.
  const user = identity.replace(/[^A-Za-z0-9\-_.!~*'()&=+$,;?/]/g, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
  return `sip:${user}@${domain}`;
}

/**
 * A request inside a dialog must come from the identity that created it. `owner` is the dialog's
 * identity (absent when it was created without authentication), `identity` the request's ('' = none).
 */
export function dialogOwnerRefusal(owner: string | undefined, identity: string): string | undefined {
  if (identity === '' || owner === undefined || owner === identity) return undefined;
  return 'Dialog Belongs To Another Identity';
}

/** The actions a role needs: a publisher publishes, a subscriber subscribes, `both` needs both. */
export function actionsOfRole(role: Role): AccessAction[] {
  if (role === 'publisher') return ['publish'];
  if (role === 'subscriber') return ['subscribe'];
  if (role === 'both') return ['publish', 'subscribe'];
  return [];
}

/** The reason of the 403 when `identity` may not take `role` on `topic`; undefined when it may. */
export function roleRefusal(
  acl: AccessList,
  identity: string,
  topic: string,
  role: Role,
): string | undefined {
  const refused = actionsOfRole(role).find((action) => !acl.allows(identity, action, topic));
  return refused ? accessRefusalReason(refused) : undefined;
}
