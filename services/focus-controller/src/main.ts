import { runService } from '@sip-pubsub/platform';
import { focusConfigSchema } from './config.js';
import { FOCUS_SERVICE, startFocusController } from './service.js';

await runService({ name: FOCUS_SERVICE, schema: focusConfigSchema, start: startFocusController });
