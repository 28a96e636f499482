export { type RelayConfig, relayConfigSchema } from './config.js';
export { Leg, type LegOptions, RelayCore, type RelayCounters } from './relay.js';
export { RELAY_SERVICE, startMediaRelay } from './service.js';
