// Settings of the edge's pre-parse intake budgets (issue 7 defect 5). SIP_RATE_PER_SOURCE (admission-config.ts)
// is the budget of new requests; these add the in-dialog budget and the budget of stateless 503s.
import { env } from '@sip-pubsub/platform';
import { z } from 'zod';
import { parseRatePerSource } from './admission-config.js';

function rateSetting(fallback: string) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const parsed = parseRatePerSource(raw === undefined || raw.trim() === '' ? fallback : raw);
      if (parsed === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `expected 'rate[:burst]' per second (e.g. '${fallback}'), or 0/off`,
        });
        return z.NEVER;
      }
      return parsed;
    });
}

// Each admitted new request brings a few in-dialog ones (ACK of the 302 or 2xx, BYE, refreshes, NOTIFY
// answers): five per admitted new request, so a source that stays inside its budget for new requests is
// never held back on the calls it already has (a 400 budget dropped ACKs and BYEs of 325 calls/s).
export const DEFAULT_RATE_PER_SOURCE_IN_DIALOG = '1000:2000';
export const DEFAULT_REJECT_RATE_PER_SOURCE = '50:100';

export const intakeConfigShape = {
  /** Per source: requests with a To tag, ACK, CANCEL and responses, checked before parsing. */
  SIP_RATE_PER_SOURCE_IN_DIALOG: rateSetting(DEFAULT_RATE_PER_SOURCE_IN_DIALOG),
  /** Per source: stateless 503s for over-budget requests; beyond it (or when off) they are dropped unanswered. */
  SIP_REJECT_RATE_PER_SOURCE: rateSetting(DEFAULT_REJECT_RATE_PER_SOURCE),
  /** UDP SO_RCVBUF in bytes (capped by the kernel's net.core.rmem_max). */
  SIP_UDP_RECV_BUFFER: env.int(4 * 1024 * 1024, 65_536, 256 * 1024 * 1024),
};
