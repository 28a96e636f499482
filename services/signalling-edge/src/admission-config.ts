// Configuration of what the edge checks before routing: overload limits and digest authentication.
import { env } from '@sip-pubsub/platform';
import { z } from 'zod';

/** `rate[:burst]` requests per second per source address; `0` or `off` disables. Burst defaults to 2×rate. */
export function parseRatePerSource(raw: string): { rate: number; burst: number } | null | undefined {
  const value = raw.trim().toLowerCase();
  if (value === '0' || value === 'off') return null;
  const match = /^(\d+(?:\.\d+)?)(?:[:/](\d+))?$/.exec(value);
  if (!match) return undefined;
  const rate = Number(match[1]);
  const burst = match[2] !== undefined ? Number(match[2]) : Math.max(1, Math.ceil(2 * rate));
  if (!(rate > 0) || burst < 1) return undefined;
  return { rate, burst };
}

/**
 * New requests per source per second, checked before parsing. Derived from measured capacity: the edge
 * routes ~1,200 (separate processes) to ~1,500 (embedded) factory INVITEs per second on the 2-core test
 * machine with no limit (`npm run bench -- edge-capacity`: closed loop, 50 outstanding, one source), and a
 * join costs two new requests plus ACKs and a BYE. 200/s keeps one source to about a sixth of capacity.
 */
export const DEFAULT_RATE_PER_SOURCE = '200:400';

export const admissionConfigShape = {
  /** Per-source token bucket of new requests (no To tag), checked before parsing; beyond it a stateless 503. */
  SIP_RATE_PER_SOURCE: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const parsed = parseRatePerSource(
        raw === undefined || raw.trim() === '' ? DEFAULT_RATE_PER_SOURCE : raw,
      );
      if (parsed === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: "expected 'rate[:burst]' requests per second (e.g. '200:400'), or 0/off",
        });
        return z.NEVER;
      }
      return parsed;
    }),
  /** Requests handed to owners and not yet answered; beyond it 503 with Retry-After. */
  SIP_MAX_INFLIGHT: env.int(10_000, 1, 1_000_000),
  /** Digest authentication is on when AUTH_REALM and a credentials source are set. */
  AUTH_REALM: env.optionalString(),
  /** File of `user:password` or `user:realm:HA1` lines (a mounted Kubernetes Secret works). */
  AUTH_CREDENTIALS_FILE: env.optionalString(),
  /** The same entries in one variable, separated by newlines or commas. */
  AUTH_CREDENTIALS: env.optionalString(),
  /** HMAC key of the stateless nonces; give every edge replica the same one. Unset: random per process. */
  AUTH_NONCE_SECRET: env.optionalString(),
  AUTH_NONCE_TTL: env.durationMs(300_000),
  /** Methods never challenged besides ACK and CANCEL (§22.1); `none` challenges everything else. */
  AUTH_EXEMPT_METHODS: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw === undefined || raw.trim() === '' ? 'OPTIONS' : raw.trim();
      if (value.toLowerCase() === 'none') return [] as string[];
      const methods = value.split(',').map((m) => m.trim().toUpperCase());
      if (methods.some((m) => !/^[A-Z]+$/.test(m))) {
        ctx.addIssue({
          code: 'custom',
          message: "expected comma-separated method names (e.g. 'OPTIONS') or none",
        });
        return z.NEVER;
      }
      return methods;
    }),
};

/** AUTH_REALM and a credentials source come together, or not at all. */
export function requireCompleteAuth(
  config: { AUTH_REALM?: string; AUTH_CREDENTIALS_FILE?: string; AUTH_CREDENTIALS?: string },
  ctx: z.RefinementCtx,
): void {
  const source = config.AUTH_CREDENTIALS_FILE !== undefined || config.AUTH_CREDENTIALS !== undefined;
  if (config.AUTH_REALM !== undefined && !source)
    ctx.addIssue({
      code: 'custom',
      path: ['AUTH_CREDENTIALS_FILE'],
      message: 'AUTH_REALM is set: give AUTH_CREDENTIALS_FILE or AUTH_CREDENTIALS',
    });
  if (config.AUTH_REALM === undefined && source)
    ctx.addIssue({
      code: 'custom',
      path: ['AUTH_REALM'],
      message: 'required when AUTH_CREDENTIALS_FILE or AUTH_CREDENTIALS is set',
    });
}
