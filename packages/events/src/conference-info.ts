// The conference package's data model (RFC 4575 §5) as far as sip-pubsub uses it, plus the
// pubsub extension of PROFILE.md "Events".

export const CONFERENCE_INFO_CONTENT_TYPE = 'application/conference-info+xml';
export const CONFERENCE_INFO_NAMESPACE = 'urn:ietf:params:xml:ns:conference-info';
export const PUBSUB_CONFERENCE_INFO_NAMESPACE = 'urn:ietf:params:xml:ns:pubsub-conference-info';

/** RFC 4575 state-type: whether an element carries all its content, only changes, or is being removed. */
export type ElementState = 'full' | 'partial' | 'deleted';
export const ELEMENT_STATES: readonly ElementState[] = ['full', 'partial', 'deleted'];

/** A participant's role, taken from the direction of its text stream (PROFILE.md "Roles from SDP"). */
export type Role = 'publisher' | 'subscriber' | 'both' | 'inactive';
export const ROLES: readonly Role[] = ['publisher', 'subscriber', 'both', 'inactive'];

export type MediaStatus = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
export const MEDIA_STATUSES: readonly MediaStatus[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

export type EndpointStatus =
  | 'connected'
  | 'disconnected'
  | 'on-hold'
  | 'muted-via-focus'
  | 'pending'
  | 'alerting'
  | 'dialing-in'
  | 'dialing-out'
  | 'disconnecting';
export const ENDPOINT_STATUSES: readonly EndpointStatus[] = [
  'connected',
  'disconnected',
  'on-hold',
  'muted-via-focus',
  'pending',
  'alerting',
  'dialing-in',
  'dialing-out',
  'disconnecting',
];

export type JoiningMethod = 'dialed-in' | 'dialed-out' | 'focus-owner';
export const JOINING_METHODS: readonly JoiningMethod[] = ['dialed-in', 'dialed-out', 'focus-owner'];

/** One text stream of an endpoint (RFC 4575 §5.7.3). */
export interface ConferenceMedia {
  id: string;
  type: 'text';
  /** The SSRC the endpoint sends with, so a CSRC can be mapped back to its publisher. */
  srcId?: number;
  status: MediaStatus;
}

/** One device (dialog) of a user (RFC 4575 §5.7). */
export interface ConferenceEndpoint {
  entity: string;
  /** RFC 4575 §5.7 endpoint state; absent means 'full'. Only partial documents need it. */
  state?: ElementState;
  status: EndpointStatus;
  joiningMethod?: JoiningMethod;
  media: ConferenceMedia[];
}

/** One participant, keyed by its AOR (RFC 4575 §5.6). */
export interface ConferenceUser {
  entity: string;
  displayText?: string;
  state: ElementState;
  role?: Role;
  endpoints: ConferenceEndpoint[];
}

/** Caps and counts per role, in namespace urn:ietf:params:xml:ns:pubsub-conference-info. */
export interface PubsubConferenceCounts {
  maximumUserCountPublisher?: number;
  maximumUserCountSubscriber?: number;
  publisherCount?: number;
  subscriberCount?: number;
}

/** A whole or partial conference-info document (RFC 4575 §5.1). */
export interface ConferenceInfo {
  /** The conference URI. */
  entity: string;
  state: ElementState;
  version: number;
  /** The topic, in <conference-description><subject>. */
  subject?: string;
  maximumUserCount?: number;
  pubsub?: PubsubConferenceCounts;
  /** <conference-state><user-count>. */
  userCount?: number;
  active?: boolean;
  users: ConferenceUser[];
}
