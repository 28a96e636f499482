export { type FocusConfig, focusConfigSchema } from './config.js';
export { Focus, type FocusOptions, legIdOf } from './focus.js';
export { FOCUS_SERVICE, startFocusController } from './service.js';
export { normaliseTopic } from './topic.js';
