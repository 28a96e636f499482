import { runService } from '@sip-pubsub/platform';
import { notifierConfigSchema } from './config.js';
import { NOTIFIER_SERVICE, startNotifier } from './service.js';

await runService({ name: NOTIFIER_SERVICE, schema: notifierConfigSchema, start: startNotifier });
