import { runService } from '@sip-pubsub/platform';
import { relayConfigSchema } from './config.js';
import { advertiseFromNode } from './node-address.js';
import { RELAY_SERVICE, startMediaRelay } from './service.js';

await runService({
  name: RELAY_SERVICE,
  schema: relayConfigSchema,
  start: async (config, ctx) => startMediaRelay(await advertiseFromNode(config, ctx.logger), ctx),
});
