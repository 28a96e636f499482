export {
  ACCESS_ACTIONS,
  type AccessAction,
  type AccessDecision,
  type AccessEffect,
  AccessList,
  AccessListSyntaxError,
  type AccessRule,
  accessRefusalReason,
  parseAccessList,
} from './access-list.js';
export { type AccessListSettings, type LoadedAccessList, loadAccessList } from './access-list-file.js';
export { applyConferenceInfo } from './apply-conference-info.js';
export {
  CONFERENCE_INFO_CONTENT_TYPE,
  CONFERENCE_INFO_NAMESPACE,
  type ConferenceEndpoint,
  type ConferenceInfo,
  type ConferenceMedia,
  type ConferenceUser,
  type ElementState,
  type EndpointStatus,
  type JoiningMethod,
  type MediaStatus,
  PUBSUB_CONFERENCE_INFO_NAMESPACE,
  type PubsubConferenceCounts,
  type Role,
} from './conference-info.js';
export { buildConferenceInfo, parseConferenceInfo } from './conference-info-document.js';
export {
  applyDirectoryInfo,
  buildDirectoryInfo,
  DIRECTORY_CONTENT_TYPE,
  DIRECTORY_NAMESPACE,
  type DirectoryEntry,
  type DirectoryInfo,
  parseDirectoryInfo,
} from './directory-document.js';
export { EventDocumentError, EventStateError, SubscriptionStateError, VersionGapError } from './errors.js';
export {
  ALLOW_EVENTS,
  EVENT_PACKAGES,
  type EventPackageName,
  type EventPackageSpec,
  eventPackageFor,
} from './event-packages.js';
export {
  classifyPublish,
  createEventState,
  EventStateExpiries,
  type EventStateSnapshot,
  type EventStateStatus,
  expireEventState,
  isEventStateExpired,
  matchesEventState,
  modifyEventState,
  type PublishClassification,
  type PublishFacts,
  type PublishOperation,
  refreshEventState,
  removeEventState,
} from './event-state.js';
export { type ExpiresDecision, negotiateExpires } from './expires.js';
export * from './naming.js';
export { NotifyScheduler, type NotifySchedulerOptions, type SchedulerClock } from './notify-scheduler.js';
export {
  activateSubscription,
  createSubscription,
  isSubscriptionExpired,
  type NewSubscription,
  nextNotifyVersion,
  refreshSubscription,
  type SubscriptionSnapshot,
  type SubscriptionStatus,
  subscriptionStateHeader,
  type TerminationReason,
  terminateSubscription,
} from './subscription.js';
export { TopicFilterIndex } from './topic-filter-index.js';
export { parseTopicPattern, type TopicPattern, TopicPatternError, topicMatches } from './topic-pattern.js';
