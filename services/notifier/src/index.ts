export { type NotifierConfig, notifierConfigSchema } from './config.js';
export { ConferenceNotifier, SUPPORTED_PACKAGES, subscriptionIdOf } from './notifier.js';
export { NOTIFIER_SERVICE, startNotifier } from './service.js';
