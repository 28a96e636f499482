export { type EmbeddedBroker, startEmbeddedBroker } from './broker.js';
export { embeddedConfigSchema } from './config.js';
