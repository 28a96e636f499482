export { type ClientOptions, ClientOptionsError, parseHostPort } from './client-options.js';
export { ClientClosedError, SipPubSubError } from './errors.js';
export { buildMediaOffer, directionFor, type ParticipantKind } from './media-offer.js';
export {
  PublicationAssembler,
  type PublicationAssemblerOptions,
  type PublicationEvent,
} from './publication-assembler.js';
export { Publisher, type PublisherEvents, type PublisherOptions } from './publisher.js';
export { SipPubSubClient } from './sip-pubsub-client.js';
export {
  type LossInfo,
  type PackMeta,
  Subscriber,
  type SubscriberEvents,
  type SubscriberOptions,
} from './subscriber.js';
export { Watcher, type WatcherEvents, type WatcherOptions } from './watcher.js';
