export { BROKER_BIN, BrokerNotInstalledError, findBrokerBinary } from './broker-binary.js';
export {
  type CliCommand,
  CliUsageError,
  type CommandName,
  packFromFlags,
  parseCliArgs,
  USAGE,
} from './cli-args.js';
export { type CliIo, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, processIo, runCli } from './cli-runner.js';
export { type ClientOptions, ClientOptionsError, parseHostPort } from './client-options.js';
export { DATA_EVENT, dataPackage, isTopicFilter } from './data-package.js';
export { ClientClosedError, SipPubSubError } from './errors.js';
export { EventPublisher, type EventPublisherEvents, type EventPublisherOptions } from './event-publisher.js';
export { buildMediaOffer, directionFor, type ParticipantKind } from './media-offer.js';
export {
  MixedPublicationAssembler,
  type MixedPublicationAssemblerOptions,
} from './mixed-publication-assembler.js';
export { formatPackHuman, formatPackJson, formatPublished } from './pack-printer.js';
export {
  PublicationAssembler,
  type PublicationAssemblerOptions,
  type PublicationEvent,
} from './publication-assembler.js';
export { Publisher, type PublisherEvents, type PublisherOptions } from './publisher.js';
export { formatRosterChange, type RosterChange, rosterChanges } from './roster-changes.js';
export { SipPubSubClient } from './sip-pubsub-client.js';
export {
  type LossInfo,
  type PackMeta,
  Subscriber,
  type SubscriberEvents,
  type SubscriberOptions,
} from './subscriber.js';
export { refreshDelayMs, Watcher, type WatcherEvents, type WatcherOptions } from './watcher.js';
