// Names and URIs of the sip-pubsub profile (PROFILE.md "Names and URIs").
import { randomBytes } from 'node:crypto';

export const FACTORY_USER = 'factory';
const CONFERENCE_PREFIX = 'conf-';
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

export function factoryUri(domain: string): string {
  return `sip:${FACTORY_USER}@${domain}`;
}

export function conferenceUri(conferenceId: string, domain: string): string {
  return `sip:${CONFERENCE_PREFIX}${conferenceId}@${domain}`;
}

/** Lower-case base32 of 80 random bits (16 characters). */
export function newConferenceId(): string {
  const bytes = randomBytes(10);
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  return out;
}

const CONFERENCE_ID = /^[a-z2-7]{16,64}$/;

export function isConferenceId(id: string): boolean {
  return CONFERENCE_ID.test(id);
}

/**
 * What a request URI addresses in this profile: the factory, a conference, or something else.
 * Takes the user part of a sip:/sips: URI without parsing the rest (callers have parsed the message).
 */
export type UriTarget =
  | { kind: 'factory' }
  | { kind: 'conference'; conferenceId: string }
  | { kind: 'other'; user: string };

export function classifyUri(uri: string): UriTarget {
  const match = /^sips?:([^@;?]*)@/i.exec(uri.trim());
  const user = match ? safeDecode(match[1]) : '';
  if (user === FACTORY_USER) return { kind: 'factory' };
  if (user.startsWith(CONFERENCE_PREFIX)) {
    const id = user.slice(CONFERENCE_PREFIX.length);
    if (isConferenceId(id)) return { kind: 'conference', conferenceId: id };
  }
  return { kind: 'other', user };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Header values every focus response that advertises capabilities carries (PROFILE.md "Creating and joining"). */
export const PROFILE_ALLOW = 'INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, PUBLISH, UPDATE';
export const PROFILE_ACCEPT =
  'application/sdp, application/conference-info+xml, application/senml+json, message/sipfrag';
export const PROFILE_SUPPORTED = 'replaces, join, norefersub';
export const PROFILE_ALLOW_EVENTS = 'conference, refer, pubsub-conferences, pubsub-data';
