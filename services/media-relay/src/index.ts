export { boundedSender } from './bounded-send.js';
export { type RelayConfig, relayConfigSchema } from './config.js';
export { Leg, type LegOptions, RelayCore, type RelayCounters } from './relay.js';
export { relayCounters } from './relay-metrics.js';
export { RELAY_SERVICE, startMediaRelay } from './service.js';
export { TopicMetrics } from './topic-metrics.js';
