export { type EdgeConfig, edgeConfigSchema } from './config.js';
export { routeRequest } from './routing.js';
export { EDGE_SERVICE, type RunningEdge, startSignallingEdge } from './service.js';
