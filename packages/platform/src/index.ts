export {
  type Bus,
  BusClosedError,
  type BusMessage,
  type BusSubscription,
  InvalidHeaderError,
} from './bus.js';
export { BusMembership, type BusMembershipOptions, MISSED_HEARTBEATS } from './bus-membership.js';
export { ChannelCheckedMembership, RECONNECT_CHECK_MS } from './channel-membership.js';
export {
  handleCommandLine,
  helpText,
  type ProcessArgs,
  parseProcessArgs,
  type Setting,
  settingsOf,
} from './command-line.js';
export {
  baseConfig,
  baseConfigShape,
  ConfigError,
  defaultInstanceId,
  EXIT_CONFIG,
  env,
  instanceId,
  LOG_LEVELS,
  loadConfig,
  loadConfigOrExit,
} from './config.js';
export { type EndpointSliceLike, membersFromEndpointSlices } from './endpoint-slices.js';
export { freePort } from './free-port.js';
export {
  asyncUnary,
  CHANNEL_OPTIONS,
  type ChannelState,
  GrpcClientPool,
  type GrpcServiceRegistration,
  GrpcStatusError,
  type RunningGrpcServer,
  startGrpcServer,
  unary,
} from './grpc.js';
export {
  CallLink,
  type CallLinkOptions,
  EdgeLinks,
  LINK_EDGE_ID,
  LINK_MAX_PENDING,
  type LinkFrame,
  type LinkFrames,
  type LinkHandler,
  type LinkIncomingCall,
  type LinkMethod,
  type LinkStream,
  OwnerLinks,
} from './grpc-link.js';
export { HealthServer, type HealthServerOptions, type HttpMounts, type HttpRoute } from './health.js';
export { InProcessBus } from './in-process-bus.js';
export { InProcessKvStore } from './in-process-kv.js';
export { JsonBucket, KvValueError } from './json-bucket.js';
export { KubernetesMembership, type KubernetesMembershipOptions } from './kubernetes-membership.js';
export {
  InvalidKvKeyError,
  type KvBucket,
  type KvBucketOptions,
  KvConflictError,
  type KvEntry,
  type KvStore,
  type KvWatchEvent,
} from './kv.js';
export {
  decodeKvKey,
  decodeKvKeyPart,
  encodeKvKeyPart,
  isValidBucketName,
  isValidKvKey,
  kvKey,
} from './kv-key.js';
export { instrumentKv } from './kv-metrics.js';
export { createLogger, type Logger, type LoggerOptions, prettyByDefault, serviceLogger } from './logging.js';
export {
  type Member,
  type Membership,
  type MembershipClock,
  membersSubject,
  systemClock,
} from './membership.js';
export { type MembershipFactory, type MembershipSettings, membershipFactory } from './membership-factory.js';
export { BUILD_VERSION, createRegistry } from './metrics.js';
export { connectNats, connectNatsBus } from './nats-bus.js';
export { natsKvStore } from './nats-kv.js';
export { natsConnectionGauge } from './nats-metrics.js';
export { failFastWithoutNats, isNatsOutageError, trackNatsConnection } from './nats-outage.js';
export { rendezvousOwner, rendezvousRank } from './rendezvous.js';
export { inRequestScope, type RequestLogFields, requestLogFields } from './request-log.js';
export { type RunningService, runService, type ServiceContext } from './service-runner.js';
export { installShutdown, type ShutdownOptions } from './shutdown.js';
export { assertValidSubject, InvalidSubjectError, subjectMatches } from './subject.js';
export { type WatchedFile, type WatchedFileOptions, watchFile } from './watched-file.js';
