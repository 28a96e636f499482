export { relayConfigSchema, type RelayConfig } from './config.js';
export { startMediaRelay, RELAY_SERVICE } from './service.js';
export { RelayCore, Leg, type LegOptions, type RelayCounters } from './relay.js';
