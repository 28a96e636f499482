import { baseConfigShape, env } from '@sip-pubsub/platform';
import { z } from 'zod';

export const notifierConfigSchema = z.object({
  ...baseConfigShape,
  HTTP_PORT: env.port(9093),
  SIP_DOMAIN: env.string('localhost'),
  GRPC_HOST: env.string('0.0.0.0'),
  GRPC_PORT: env.port(50054),
  GRPC_ADVERTISE_HOST: env.string('127.0.0.1'),
  /** At most one NOTIFY per subscription per this interval; changes inside it are merged (PROFILE.md "Events"). */
  NOTIFY_MIN_INTERVAL_MS: env.int(200, 0, 60_000),
  /**
   * Largest NOTIFY body (bytes): state beyond it (a directory of many topics, a large roster) goes out
   * in parts, the first NOTIFY full state of what fits and partial ones for the rest. Below 64 KiB, the
   * SIP message limit.
   */
  NOTIFY_MAX_BODY_BYTES: env.int(60_000, 1_024, 64_512),
  MAX_SUBSCRIPTIONS_PER_CONFERENCE: env.int(10_000, 1),
  EDGE_RPC_TIMEOUT_MS: env.durationMs(40_000),
  /** How often expired subscriptions are looked for. */
  EXPIRY_SWEEP_MS: env.durationMs(1_000),
  /** Per-topic access list (README "Access lists"), reloaded on change; unset: everything is allowed. */
  ACL_FILE: env.optionalString(),
  /** Verdict when no rule of ACL_FILE matches. */
  ACL_DEFAULT: env.enumOf(['allow', 'deny'] as const, 'deny'),
  /** How often ACL_FILE is re-read besides change events (volumes that report none). */
  ACL_POLL_INTERVAL_MS: env.durationMs(5_000),
  /** How long a record that arrived over RTP stays a retained value (PROFILE "PUBLISH"); 0 retains none. */
  RETAIN_TTL: env.durationMs(3_600_000),
  /** Most SenML names retained per topic; beyond it the oldest arrivals are dropped. */
  RETAIN_MAX_NAMES: env.int(1_000, 1, 100_000),
  /** Most live PUBLISH event states per topic; beyond it an initial PUBLISH gets 503. */
  MAX_PUBLICATIONS_PER_CONFERENCE: env.int(1_000, 1),
  /** Largest SenML pack a PUBLISH body may hold (bytes), as the relay's limit for RTP. */
  MAX_SENML_PACK_BYTES: env.int(16_384, 64, 1_048_576),
  /**
   * The focus's CONFERENCE_IDLE_TTL (same value, same format): while it is set the notifier keeps each
   * conference's watchers record (proto `watchersIndexKey`), which the focus's idle sweep reads.
   */
  CONFERENCE_IDLE_TTL: env
    .durationMs(0)
    .refine((ms) => ms === 0 || ms >= 1_000, { message: 'expected 0 (off) or a duration of at least 1s' }),
});
export type NotifierConfig = z.infer<typeof notifierConfigSchema>;
