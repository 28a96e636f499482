export { focusConfigSchema, type FocusConfig } from './config.js';
export { startFocusController, FOCUS_SERVICE } from './service.js';
export { Focus, legIdOf, type FocusOptions } from './focus.js';
export { normaliseTopic } from './topic.js';
