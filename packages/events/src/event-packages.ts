// The event packages the notifier serves and their subscription durations (PROFILE.md "Events").
import { CONFERENCE_INFO_CONTENT_TYPE } from './conference-info.js';
import { DIRECTORY_CONTENT_TYPE } from './directory-document.js';

export type EventPackageName = 'conference' | 'pubsub-conferences' | 'pubsub-data' | 'refer';

export interface EventPackageSpec {
  name: EventPackageName;
  /** The body type of this package's NOTIFYs. */
  contentType: string;
  /** Seconds granted when SUBSCRIBE carries no Expires (RFC 6665 §4.1.2.1 leaves it to the package). */
  defaultExpires: number;
  /** Shorter requests get 423 Interval Too Brief with Min-Expires (RFC 6665 §4.2.1.1). */
  minExpires: number;
  /** Longer requests are shortened to this (RFC 6665 §4.2.1.1 lets the notifier reduce it). */
  maxExpires: number;
}

const MAX_EXPIRES = 86_400;

export const EVENT_PACKAGES: Record<EventPackageName, EventPackageSpec> = {
  conference: {
    name: 'conference',
    contentType: CONFERENCE_INFO_CONTENT_TYPE,
    defaultExpires: 3600,
    minExpires: 60,
    maxExpires: MAX_EXPIRES,
  },
  'pubsub-conferences': {
    name: 'pubsub-conferences',
    contentType: DIRECTORY_CONTENT_TYPE,
    defaultExpires: 3600,
    minExpires: 60,
    maxExpires: MAX_EXPIRES,
  },
  'pubsub-data': {
    name: 'pubsub-data',
    contentType: 'application/senml+json',
    defaultExpires: 600,
    minExpires: 30,
    maxExpires: MAX_EXPIRES,
  },
  // The implicit subscription of a REFER (RFC 3515 §2.4.4) only reports the progress of one dial-out,
  // which ends within a transaction timeout; its duration is the notifier's choice.
  refer: {
    name: 'refer',
    contentType: 'message/sipfrag',
    defaultExpires: 60,
    minExpires: 1,
    maxExpires: MAX_EXPIRES,
  },
};

/** The Allow-Events value (RFC 6665 §8.2.2), also sent with 489 Bad Event. */
export const ALLOW_EVENTS = 'conference, refer, pubsub-conferences, pubsub-data';

/**
 * The package an Event header value names, ignoring its parameters (`conference;id=7`), or
 * undefined for a package this notifier does not serve (answer 489). Event types compare as tokens.
 */
export function eventPackageFor(eventHeader: string | undefined): EventPackageSpec | undefined {
  if (eventHeader === undefined) return undefined;
  const name = eventHeader.split(';', 1)[0].trim();
  return Object.hasOwn(EVENT_PACKAGES, name) ? EVENT_PACKAGES[name as EventPackageName] : undefined;
}
