// Which service handles a request, and on which key its owner is chosen (DESIGN.md "signalling-edge").
import { classifyUri } from '@sip-pubsub/events';

export type OwnerService = 'focus-controller' | 'notifier';

const FOCUS_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'REFER', 'OPTIONS', 'INFO', 'UPDATE']);
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
