import { baseConfigShape, env } from '@sip-pubsub/platform';
import { z } from 'zod';

/** Settings of the one-process broker itself; each service also reads its own settings from the same environment. */
export const embeddedConfigSchema = z.object({
  ...baseConfigShape,
  HTTP_PORT: env.port(9090),
  SIP_DOMAIN: env.string('localhost'),
  SIP_PORT: env.port(5060),
  RELAY_PORT_MIN: env.port(20_000),
  RELAY_PORT_MAX: env.port(20_099),
});
export type EmbeddedConfig = z.infer<typeof embeddedConfigSchema>;
