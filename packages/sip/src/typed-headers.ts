// Typed accessors over a message for the headers the services read; each throws SipParseError(400)
// naming the header when its value is malformed, and returns undefined when the header is absent.
import { type ContactList, parseContacts } from './contact.js';
import { parseDeltaSeconds, parseRetryAfter, type RetryAfter } from './delta-seconds.js';
import {
  type DigestChallenge,
  type DigestCredentials,
  parseDigestChallenge,
  parseDigestCredentials,
} from './digest.js';
import { parseEntityTag } from './entity-tag.js';
import { type EventHeader, parseEvent } from './event.js';
import { getHeader, getHeaders, hasHeader } from './headers.js';
import type { SipMessage } from './message.js';
import { type NameAddr, parseNameAddr } from './name-addr.js';
import { parseReferSub } from './refer-sub.js';
import { type DialogReference, parseDialogReference } from './replaces.js';
import { parseSubscriptionState, type SubscriptionState } from './subscription-state.js';
import { parseTokenList } from './token-list.js';
import { parseVia, type Via } from './via.js';

const optional = <T>(msg: SipMessage, name: string, parse: (v: string) => T): T | undefined => {
  const value = getHeader(msg, name);
  return value === undefined ? undefined : parse(value);
};

export const viasOf = (msg: SipMessage): Via[] => getHeaders(msg, 'Via').map(parseVia);
export const fromOf = (msg: SipMessage): NameAddr | undefined => optional(msg, 'From', parseNameAddr);
export const toOf = (msg: SipMessage): NameAddr | undefined => optional(msg, 'To', parseNameAddr);
export const referToOf = (msg: SipMessage): NameAddr | undefined => optional(msg, 'Refer-To', parseNameAddr);
export const contactsOf = (msg: SipMessage): ContactList | undefined =>
  hasHeader(msg, 'Contact') ? parseContacts(getHeaders(msg, 'Contact')) : undefined;
export const eventOf = (msg: SipMessage): EventHeader | undefined => optional(msg, 'Event', parseEvent);
export const subscriptionStateOf = (msg: SipMessage): SubscriptionState | undefined =>
  optional(msg, 'Subscription-State', parseSubscriptionState);
export const expiresOf = (msg: SipMessage): number | undefined =>
  optional(msg, 'Expires', (v) => parseDeltaSeconds(v, 'Expires'));
export const minExpiresOf = (msg: SipMessage): number | undefined =>
  optional(msg, 'Min-Expires', (v) => parseDeltaSeconds(v, 'Min-Expires'));
export const retryAfterOf = (msg: SipMessage): RetryAfter | undefined =>
  optional(msg, 'Retry-After', parseRetryAfter);
export const referSubOf = (msg: SipMessage): boolean | undefined => optional(msg, 'Refer-Sub', parseReferSub);
export const replacesOf = (msg: SipMessage): DialogReference | undefined =>
  optional(msg, 'Replaces', (v) => parseDialogReference(v, 'Replaces'));
export const joinOf = (msg: SipMessage): DialogReference | undefined =>
  optional(msg, 'Join', (v) => parseDialogReference(v, 'Join'));
export const sipETagOf = (msg: SipMessage): string | undefined =>
  optional(msg, 'SIP-ETag', (v) => parseEntityTag(v, 'SIP-ETag'));
export const sipIfMatchOf = (msg: SipMessage): string | undefined =>
  optional(msg, 'SIP-If-Match', (v) => parseEntityTag(v, 'SIP-If-Match'));
/** Subject text (RFC 3261 §20.36), trimmed; the topic of a factory INVITE. */
export const subjectOf = (msg: SipMessage): string | undefined => optional(msg, 'Subject', (v) => v.trim());

const tokens =
  (name: string) =>
  (msg: SipMessage): string[] =>
    parseTokenList(getHeaders(msg, name), name);
export const allowOf = tokens('Allow');
export const allowEventsOf = tokens('Allow-Events');
export const supportedOf = tokens('Supported');
export const requireOf = tokens('Require');
export const proxyRequireOf = tokens('Proxy-Require');
export const unsupportedOf = tokens('Unsupported');

export const authorizationsOf = (msg: SipMessage): DigestCredentials[] =>
  getHeaders(msg, 'Authorization').map(parseDigestCredentials);
export const wwwAuthenticateOf = (msg: SipMessage): DigestChallenge[] =>
  getHeaders(msg, 'WWW-Authenticate').map(parseDigestChallenge);
export const proxyAuthenticateOf = (msg: SipMessage): DigestChallenge[] =>
  getHeaders(msg, 'Proxy-Authenticate').map(parseDigestChallenge);
