import { baseConfigShape, env } from '@sip-pubsub/platform';
import { z } from 'zod';

/**
 * ADMIN_IDENTITIES: comma-separated identities (digest user names) or sip:/sips: URIs that may remove
 * participants of, and end, any conference (PROFILE.md "REFER").
 */
const adminIdentities = env.string('').transform((raw, ctx) => {
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const entry of entries) {
    const uri = /^sips?:/i.test(entry);
    if (/\s/.test(entry) || (!uri && entry.includes(':')) || (uri && !/^sips?:[^@\s]+@[^@\s]+$/i.test(entry)))
      ctx.addIssue({ code: 'custom', message: `not an identity or a sip: URI: ${entry}` });
  }
  return entries;
});

/**
 * CONFERENCE_IDLE_TTL (PROFILE "Creating and joining"): a conference without participants and watchers
 * for this long is ended; 0 (default) = never. The notifier reads it too (it keeps the watchers records).
 */
export const conferenceIdleTtl = env
  .durationMs(0)
  .refine((ms) => ms === 0 || ms >= 1_000, { message: 'expected 0 (off) or a duration of at least 1s' });

/** The highest MAX_LEGS_PER_CONFERENCE taken (see there). */
export const MAX_LEGS_PER_CONFERENCE_LIMIT = 4_000;

export const focusConfigSchema = z.object({
  ...baseConfigShape,
  HTTP_PORT: env.port(9091),
  SIP_DOMAIN: env.string('localhost'),
  GRPC_HOST: env.string('0.0.0.0'),
  GRPC_PORT: env.port(50052),
  /** Address other services use to reach this replica (the pod IP in a cluster). */
  GRPC_ADVERTISE_HOST: env.string('127.0.0.1'),
  FACTORY_ON_EXISTING_TOPIC: env.enumOf(['redirect', 'reject'] as const, 'redirect'),
  /** PROFILE "REFER": `redirect` (302 to the conference) or `join` (an INVITE with an offer is answered 200 by the conference). */
  FACTORY_MODE: env.enumOf(['redirect', 'join'] as const, 'redirect'),
  INVALID_DATA_POLICY: env.enumOf(['drop', 'forward'] as const, 'drop'),
  MAX_CONFERENCES: env.int(10_000, 1),
  /**
   * At most 4000: a conference's roster index is one KV value of ~200 bytes per leg, and NATS refuses a
   * message over its max_payload (1 MiB by default), which ~5,300 legs reach; past it every join failed.
   */
  MAX_LEGS_PER_CONFERENCE: env.int(1_000, 1, MAX_LEGS_PER_CONFERENCE_LIMIT),
  /** Publishers (`both` included) one conference admits; 0 = no cap of its own. */
  MAX_PUBLISHERS_PER_CONFERENCE: env.int(0, 0),
  /** Subscribers (`both` included) one conference admits; 0 = no cap of its own. */
  MAX_SUBSCRIBERS_PER_CONFERENCE: env.int(0, 0),
  RELAY_RPC_TIMEOUT_MS: env.durationMs(3_000),
  /** Deadline for requests sent through an edge (re-INVITE on failover); above Timer B, 64*T1. */
  EDGE_RPC_TIMEOUT_MS: env.durationMs(40_000),
  /** Legs of one conference per relay before its legs spread to the next relay of its ranking (DESIGN "Media sharding"). */
  RELAY_SPREAD_LEGS: env.int(500, 1),
  /** Host named in the SDP of OPTIONS answers. */
  MEDIA_HOST: env.string('127.0.0.1'),
  /** Per-topic access list (README "Access lists"), reloaded on change; unset: everything is allowed. */
  ACL_FILE: env.optionalString(),
  /** Verdict when no rule of ACL_FILE matches. */
  ACL_DEFAULT: env.enumOf(['allow', 'deny'] as const, 'deny'),
  /** How often ACL_FILE is re-read besides change events (volumes that report none). */
  ACL_POLL_INTERVAL_MS: env.durationMs(5_000),
  /** RFC 4028 Min-SE in seconds: a smaller requested Session-Expires gets 422 (the RFC's floor is 90). */
  SESSION_MIN_SE: env.int(90, 1, 86_400),
  /** Session-Expires in seconds the focus asks of a caller that supports timers but asks none, and its cap; 0 = do not ask. */
  SESSION_EXPIRES: env.int(1_800, 0, 86_400),
  ADMIN_IDENTITIES: adminIdentities,
  /** Longest a dial-out INVITE may go unanswered before the focus reports it failed (408 in the sipfrag). */
  DIAL_OUT_TIMEOUT_MS: env.durationMs(30_000),
  /** How often unfinished referrals of owned conferences are checked for orphans besides membership changes; 0 = never. */
  REFERRAL_SWEEP_INTERVAL_MS: env.durationMs(30_000),
  CONFERENCE_IDLE_TTL: conferenceIdleTtl,
});
export type FocusConfig = z.infer<typeof focusConfigSchema>;
