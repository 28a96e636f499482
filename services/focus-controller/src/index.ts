export { type FocusConfig, focusConfigSchema } from './config.js';
export { Focus, type FocusOptions } from './focus.js';
export { legIdOf } from './participant.js';
export { FOCUS_SERVICE, startFocusController } from './service.js';
export { normaliseTopic } from './topic.js';
