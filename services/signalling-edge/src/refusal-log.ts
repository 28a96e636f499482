// Refusals an owner answered, logged at info with why, so an operator sees them without debug logs.
import type { Logger } from '@sip-pubsub/platform';
import { getHeader, type SipRequest, type SipResponse } from '@sip-pubsub/sip';
import { methodLabel } from './edge-metrics.js';

/** Final statuses that mean "refused" rather than "failed" (auth, policy, offer, event package, load). */
export const LOGGED_REFUSALS: ReadonlySet<number> = new Set([401, 403, 488, 489, 503]);

export function logOwnerRefusal(
  logger: Logger,
  req: SipRequest,
  response: SipResponse,
  owner: { service: string; id: string; key: string },
): void {
  if (!LOGGED_REFUSALS.has(response.status)) return;
  logger.info(
    {
      method: methodLabel(req.method),
      callId: getHeader(req, 'Call-ID'),
      conference: owner.key,
      owner: `${owner.service}/${owner.id}`,
      status: response.status,
      reason: response.reason,
      warning: getHeader(response, 'Warning'),
    },
    'request refused by its owner',
  );
}
