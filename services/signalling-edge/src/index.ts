export { edgeConfigSchema, type EdgeConfig } from './config.js';
export { startSignallingEdge, EDGE_SERVICE, type RunningEdge } from './service.js';
export { routeRequest } from './routing.js';
