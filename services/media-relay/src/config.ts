import { baseConfigShape, env } from '@sip-pubsub/platform';
import { z } from 'zod';
import { NODE_ADDRESS_TYPES } from './node-address.js';

export const relayConfigSchema = z
  .object({
    ...baseConfigShape,
    HTTP_PORT: env.port(9092),
    GRPC_HOST: env.string('0.0.0.0'),
    GRPC_PORT: env.port(50053),
    GRPC_ADVERTISE_HOST: env.string('127.0.0.1'),
    /** Where RTP sockets bind, and the address put in SDP answers. */
    RELAY_HOST: env.string('0.0.0.0'),
    RELAY_ADVERTISE_HOST: env.string('127.0.0.1'),
    /** On a node's network: put the Node's ExternalIP (falling back to InternalIP) or InternalIP in SDP. */
    RELAY_ADVERTISE_FROM_NODE: env.enumOf(NODE_ADDRESS_TYPES, 'off'),
    /** The Node this pod runs on (downward API spec.nodeName); required with RELAY_ADVERTISE_FROM_NODE. */
    NODE_NAME: env.optionalString(),
    RELAY_PORT_MIN: env.port(20_000),
    RELAY_PORT_MAX: env.port(20_999),
    /** Symmetric RTP (RFC 4961): send to where a leg's packets come from (README "Symmetric RTP"). */
    RELAY_LATCHING: env.bool(true),
    /** With latching, a leg may latch to another host than the negotiated one, on RTP of its payload types. */
    RELAY_NAT_TRAVERSAL: env.bool(true),
    /** Packets a publisher leg may send per second (token bucket, burst of one second); the excess is dropped. */
    RELAY_MAX_PACKETS_PER_SECOND_PER_LEG: env.int(200, 1, 1_000_000),
    /** T.140 buffering interval of mix-mode streams (RFC 4103 §5 default 300; 0 sends at once). */
    RELAY_MIX_BUFFER_MS: env.int(300, 0, 5_000),
    /** Period of RTCP reports on legs that negotiated rtcp-mux (RFC 3550 §6.2 minimum 5 s). */
    RELAY_RTCP_INTERVAL_MS: env.durationMs(5_000),
    /** Period of the pubsub.load.<relayId> reports the focus places legs by. */
    RELAY_LOAD_INTERVAL_MS: env.durationMs(2_000),
    /** Topics with their own label in per-topic metrics; the rest are summed as "other". */
    RELAY_METRICS_TOP_TOPICS: env.int(20, 1, 1_000),
    MAX_SENML_PACK_BYTES: env.int(16_384, 64, 1_048_576),
    /** Bytes of a publisher's open line the translate filter holds per leg; past it the line is dropped. */
    RELAY_MAX_HELD_BYTES_PER_LEG: env.int(65_536, 1_024, 16_777_216),
    /** Text queued for a mix leg, or line bytes collected in one aggregate window, per leg. */
    RELAY_MAX_QUEUED_BYTES_PER_LEG: env.int(65_536, 1_024, 16_777_216),
    /** Bytes waiting in a leg socket's send queue past which further datagrams to it are dropped. */
    RELAY_MAX_SEND_QUEUE_BYTES_PER_LEG: env.int(1_048_576, 65_536, 268_435_456),
    /** Media consent (README): a datagram from a leg's peer allows sending to it for this long. */
    RELAY_CONSENT_TIMEOUT_MS: env.durationMs(30_000),
    /** A leg that received nothing from its peer for this long is closed (0: never). */
    RELAY_LEG_SILENCE_TIMEOUT_MS: env.durationMs(120_000),
  })
  .refine((c) => c.RELAY_CONSENT_TIMEOUT_MS >= 1_000, {
    message: 'RELAY_CONSENT_TIMEOUT_MS must be at least 1s',
    path: ['RELAY_CONSENT_TIMEOUT_MS'],
  })
  .refine((c) => c.RELAY_LEG_SILENCE_TIMEOUT_MS === 0 || c.RELAY_LEG_SILENCE_TIMEOUT_MS >= 1_000, {
    message: 'RELAY_LEG_SILENCE_TIMEOUT_MS must be 0 (off) or at least 1s',
    path: ['RELAY_LEG_SILENCE_TIMEOUT_MS'],
  })
  .refine((c) => c.RELAY_ADVERTISE_FROM_NODE === 'off' || c.NODE_NAME !== undefined, {
    message: 'NODE_NAME is required when RELAY_ADVERTISE_FROM_NODE is set',
    path: ['NODE_NAME'],
  })
  .refine((c) => c.RELAY_PORT_MIN <= c.RELAY_PORT_MAX, {
    message: 'RELAY_PORT_MIN must not exceed RELAY_PORT_MAX',
    path: ['RELAY_PORT_MIN'],
  });
export type RelayConfig = z.infer<typeof relayConfigSchema>;
