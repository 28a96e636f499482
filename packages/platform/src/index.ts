export {
  ConfigError,
  EXIT_CONFIG,
  LOG_LEVELS,
  baseConfig,
  baseConfigShape,
  defaultInstanceId,
  env,
  instanceId,
  loadConfig,
  loadConfigOrExit,
} from './config.js';
export { type Logger, type LoggerOptions, createLogger } from './logging.js';
export { createRegistry } from './metrics.js';
export { HealthServer, type HealthServerOptions } from './health.js';
export {
  GrpcClientPool,
  GrpcStatusError,
  type GrpcServiceRegistration,
  type RunningGrpcServer,
  asyncUnary,
  startGrpcServer,
  unary,
} from './grpc.js';
export { InvalidSubjectError, assertValidSubject, subjectMatches } from './subject.js';
export {
  type Bus,
  BusClosedError,
  type BusMessage,
  type BusSubscription,
  InvalidHeaderError,
} from './bus.js';
export { InProcessBus } from './in-process-bus.js';
export { connectNats, connectNatsBus } from './nats-bus.js';
export {
  InvalidKvKeyError,
  type KvBucket,
  type KvBucketOptions,
  KvConflictError,
  type KvEntry,
  type KvStore,
  type KvWatchEvent,
} from './kv.js';
export { decodeKvKey, decodeKvKeyPart, encodeKvKeyPart, isValidBucketName, isValidKvKey, kvKey } from './kv-key.js';
export { InProcessKvStore } from './in-process-kv.js';
export { natsKvStore } from './nats-kv.js';
export { JsonBucket, KvValueError } from './json-bucket.js';
export { rendezvousOwner, rendezvousRank } from './rendezvous.js';
export { type Member, type Membership, type MembershipClock, membersSubject, systemClock } from './membership.js';
export { BusMembership, type BusMembershipOptions, MISSED_HEARTBEATS } from './bus-membership.js';
export { type ShutdownOptions, installShutdown } from './shutdown.js';
export { freePort } from './free-port.js';
