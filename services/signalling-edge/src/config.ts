import { baseConfigShape, env } from '@sip-pubsub/platform';
import { z } from 'zod';

export const edgeConfigSchema = z.object({
  ...baseConfigShape,
  HTTP_PORT: env.port(9090),
  SIP_DOMAIN: env.string('localhost'),
  SIP_HOST: env.string('0.0.0.0'),
  SIP_PORT: env.port(5060),
  /** Host written in our Via sent-by and used by peers to reach us. */
  SIP_ADVERTISE_HOST: env.string('127.0.0.1'),
  SIP_TRANSPORTS: z
    .string()
    .default('udp,tcp')
    .transform((v) => v.split(',').map((t) => t.trim().toLowerCase()))
    .pipe(z.array(z.enum(['udp', 'tcp'])).min(1, 'at least one of udp, tcp')),
  SIP_MAX_MESSAGE_SIZE: env.int(65_536, 1_024, 1_048_576),
  SIP_T1_MS: env.int(500, 10, 10_000),
  SIP_T2_MS: env.int(4_000, 100, 60_000),
  SIP_T4_MS: env.int(5_000, 100, 60_000),
  GRPC_HOST: env.string('0.0.0.0'),
  GRPC_PORT: env.port(50051),
  GRPC_ADVERTISE_HOST: env.string('127.0.0.1'),
  /** Deadline for the owner of a conference to answer a request. */
  ROUTE_TIMEOUT_MS: env.durationMs(5_000),
});
export type EdgeConfig = z.infer<typeof edgeConfigSchema>;
