// Which service handles a request, and on which key its owner is chosen (DESIGN.md "signalling-edge").
import { classifyUri } from '@sip-pubsub/events';
import { type ChannelState, type Member, rendezvousRank } from '@sip-pubsub/platform';

export type OwnerService = 'focus-controller' | 'notifier';

const FOCUS_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'REFER', 'OPTIONS', 'UPDATE']);
const NOTIFIER_METHODS = new Set(['SUBSCRIBE', 'PUBLISH']);

export type Route =
  | { kind: 'owner'; service: OwnerService; key: string }
  | { kind: 'reject'; status: number; reason: string };

export function routeRequest(method: string, requestUri: string): Route {
  const service: OwnerService | undefined = FOCUS_METHODS.has(method)
    ? 'focus-controller'
    : NOTIFIER_METHODS.has(method)
      ? 'notifier'
      : undefined;
  if (!service) {
    // We send NOTIFYs but subscribe to nothing, so a NOTIFY to us matches no subscription (RFC 6665 §4.1.3).
    if (method === 'NOTIFY') return { kind: 'reject', status: 481, reason: 'Subscription Does Not Exist' };
    return { kind: 'reject', status: 405, reason: 'Method Not Allowed' };
  }
  const target = classifyUri(requestUri);
  const key =
    target.kind === 'factory'
      ? 'factory'
      : target.kind === 'conference'
        ? target.conferenceId
        : `user:${target.user}`;
  return { kind: 'owner', service, key };
}

/**
 * The replicas to try for `key`, best first: the rendezvous ranking, with replicas whose channel is
 * READY ahead of those still connecting or idle (a replica in reconnect backoff is not a member at all,
 * see ChannelCheckedMembership). The first is the owner; the second takes an owner failure (one retry).
 */
export function routeCandidates(
  key: string,
  members: readonly Member[],
  stateOf: (member: Member) => ChannelState | undefined,
): Member[] {
  const byId = new Map(members.map((m) => [m.id, m]));
  const ranked = rendezvousRank(key, [...byId.keys()]).map((id) => byId.get(id)!);
  const ready = ranked.filter((m) => stateOf(m) === 'ready');
  return [...ready, ...ranked.filter((m) => stateOf(m) !== 'ready')];
}

/** gRPC failures that say the replica could not serve (gone, unreachable, too slow), not that the request was bad. */
export function isOwnerUnavailable(err: unknown): boolean {
  const code = (err as { code?: number } | null)?.code;
  // 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, 1 CANCELLED (the channel closed under the call).
  return code === 14 || code === 4 || code === 1;
}

/** RESOURCE_EXHAUSTED: the replica's link to us has as many calls in flight as it takes (grpc-link.ts). */
export function isOwnerOverloaded(err: unknown): boolean {
  return (err as { code?: number } | null)?.code === 8;
}
