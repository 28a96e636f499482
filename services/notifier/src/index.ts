export { notifierConfigSchema, type NotifierConfig } from './config.js';
export { startNotifier, NOTIFIER_SERVICE } from './service.js';
export { ConferenceNotifier, SUPPORTED_PACKAGES, subscriptionIdOf } from './notifier.js';
