import { runService } from '@sip-pubsub/platform';
import { edgeConfigSchema } from './config.js';
import { EDGE_SERVICE, startSignallingEdge } from './service.js';

await runService({ name: EDGE_SERVICE, schema: edgeConfigSchema, start: startSignallingEdge });
