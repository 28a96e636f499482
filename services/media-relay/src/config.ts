import { baseConfigShape, env } from '@sip-pubsub/platform';
import { z } from 'zod';

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
    RELAY_PORT_MIN: env.port(20_000),
    RELAY_PORT_MAX: env.port(20_999),
    /** Symmetric RTP (send to where a leg's packets come from) for legs behind NAT. */
    RELAY_LATCHING: env.bool(false),
    MAX_SENML_PACK_BYTES: env.int(16_384, 64, 1_048_576),
  })
  .refine((c) => c.RELAY_PORT_MIN <= c.RELAY_PORT_MAX, { message: 'RELAY_PORT_MIN must not exceed RELAY_PORT_MAX', path: ['RELAY_PORT_MIN'] });
export type RelayConfig = z.infer<typeof relayConfigSchema>;
