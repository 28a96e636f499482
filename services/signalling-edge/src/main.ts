import { runService } from '@sip-pubsub/platform';
import { edgeConfigSchema } from './config.js';
import { EDGE_SERVICE, startSignallingEdge } from './service.js';
import { advertiseFromService } from './service-address.js';

await runService({
  name: EDGE_SERVICE,
  schema: edgeConfigSchema,
  start: async (config, ctx) => startSignallingEdge(await advertiseFromService(config, ctx.logger), ctx),
});
