import { describe, expect, it } from 'vitest';
import { SipParseError } from './errors.js';
import type { SipRequest } from './message.js';
import { parseMessage } from './parser.js';
import { formatDialogReference, parseDialogReference } from './replaces.js';
import {
  allowEventsOf,
  allowOf,
  authorizationsOf,
  contactsOf,
  eventOf,
  expiresOf,
  joinOf,
  minExpiresOf,
  referSubOf,
  referToOf,
  replacesOf,
  requireOf,
  retryAfterOf,
  sipETagOf,
  sipIfMatchOf,
  subjectOf,
  subscriptionStateOf,
  supportedOf,
  unsupportedOf,
  viasOf,
  wwwAuthenticateOf,
} from './typed-headers.js';

function message(headers: string[]): SipRequest {
  const text = [
    'INVITE sip:conf-a@example.com SIP/2.0',
    'v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1',
    'f: <sip:a@example.com>;tag=1',
    't: <sip:conf-a@example.com>',
    'i: typed-1',
    'CSeq: 1 INVITE',
    ...headers,
    'l: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

describe('typed header accessors', () => {
  const msg = message([
    'm: <sip:conf-a@example.com>;isfocus;expires=60, sip:b@example.com',
    'o: conference;id=7',
    'Subscription-State: active;expires=600',
    'Expires: 3600',
    'Min-Expires: 60',
    'Retry-After: 120 (busy);duration=30',
    'r: <sip:c@example.com;method=BYE>',
    'Refer-Sub: FALSE',
    'Replaces: 12345@host;to-tag=t1;from-tag=f1;early-only',
    'Join: abc@host;from-tag=f2;to-tag=t2',
    'SIP-ETag: e1',
    'SIP-If-Match: e0',
    's:  plant-7/boiler/temp ',
    'Allow: INVITE, ACK,BYE',
    'Allow: OPTIONS',
    'u: conference, pubsub-data',
    'k: replaces, join',
    'k:',
    'Require: join',
    'Unsupported: foo',
    'Authorization: Digest username="a", realm="r", nonce="n", uri="sip:x@y", response="00"',
    'WWW-Authenticate: Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"',
  ]);

  it('reads each header into its typed form (compact forms included)', () => {
    expect(viasOf(msg)[0].branch).toBe('z9hG4bK1');
    const contacts = contactsOf(msg);
    expect(contacts?.wildcard).toBe(false);
    if (contacts && !contacts.wildcard) {
      expect(contacts.contacts.map((c) => c.uri)).toEqual(['sip:conf-a@example.com', 'sip:b@example.com']);
      expect('isfocus' in contacts.contacts[0].params).toBe(true);
    }
    expect(eventOf(msg)).toMatchObject({ package: 'conference', id: '7' });
    expect(subscriptionStateOf(msg)).toMatchObject({ state: 'active', expires: 600 });
    expect([expiresOf(msg), minExpiresOf(msg)]).toEqual([3600, 60]);
    expect(retryAfterOf(msg)).toEqual({
      seconds: 120,
      comment: 'busy',
      duration: 30,
      params: { duration: '30' },
    });
    expect(referToOf(msg)?.uri).toBe('sip:c@example.com;method=BYE');
    expect(referSubOf(msg)).toBe(false);
    expect(replacesOf(msg)).toMatchObject({
      callId: '12345@host',
      toTag: 't1',
      fromTag: 'f1',
      earlyOnly: true,
    });
    expect(joinOf(msg)).toMatchObject({ callId: 'abc@host', toTag: 't2', fromTag: 'f2', earlyOnly: false });
    expect([sipETagOf(msg), sipIfMatchOf(msg)]).toEqual(['e1', 'e0']);
    expect(subjectOf(msg)).toBe('plant-7/boiler/temp');
    expect(allowOf(msg)).toEqual(['INVITE', 'ACK', 'BYE', 'OPTIONS']);
    expect(allowEventsOf(msg)).toEqual(['conference', 'pubsub-data']);
    expect(supportedOf(msg)).toEqual(['replaces', 'join']);
    expect(requireOf(msg)).toEqual(['join']);
    expect(unsupportedOf(msg)).toEqual(['foo']);
    expect(authorizationsOf(msg)[0]).toMatchObject({ username: 'a', realm: 'r' });
    expect(wwwAuthenticateOf(msg)[0]).toMatchObject({ algorithm: 'SHA-256', qop: ['auth'] });
  });

  it('absent headers give undefined or an empty list', () => {
    const bare = message([]);
    expect([expiresOf(bare), eventOf(bare), contactsOf(bare), replacesOf(bare), subjectOf(bare)]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(requireOf(bare)).toEqual([]);
  });

  it('malformed values throw a 400 naming the header', () => {
    const cases: [string, (m: SipRequest) => unknown, string][] = [
      ['Expires: 4294967296', expiresOf, 'Expires'],
      ['Min-Expires: -1', minExpiresOf, 'Min-Expires'],
      ['Refer-Sub: perhaps', referSubOf, 'Refer-Sub'],
      ['Replaces: abc;from-tag=1', replacesOf, 'Replaces'],
      ['Join: abc;to-tag=1', joinOf, 'Join'],
      ['SIP-ETag: a"b', sipETagOf, 'SIP-ETag'],
      ['Require: a/b', requireOf, 'Require'],
      ['Retry-After: soon', retryAfterOf, 'Retry-After'],
      ['Contact: *, <sip:a@b>', contactsOf, 'Contact'],
    ];
    for (const [line, read, name] of cases) {
      let error: unknown;
      try {
        read(message([line]));
      } catch (err) {
        error = err;
      }
      expect(error, line).toBeInstanceOf(SipParseError);
      expect((error as SipParseError).status).toBe(400);
      expect((error as SipParseError).message).toContain(name);
    }
  });

  it('a Contact of * alone is the wildcard', () => {
    expect(contactsOf(message(['Contact: *']))).toEqual({ wildcard: true });
  });

  it('Replaces round-trips', () => {
    const text = 'x@y;to-tag=a;from-tag=b;early-only';
    expect(formatDialogReference(parseDialogReference(text))).toBe(text);
  });
});
