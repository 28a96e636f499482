export { startEmbeddedBroker, type EmbeddedBroker } from './broker.js';
export { embeddedConfigSchema } from './config.js';
