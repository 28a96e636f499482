import { describe, expect, it } from 'vitest';
import { parseCSeq } from './cseq.js';
import { SipParseError } from './errors.js';
import { formatEvent, parseEvent } from './event.js';
import {
  addHeader,
  getHeader,
  getHeaders,
  removeFirstHeaderValue,
  removeHeader,
  replaceFirstHeaderValue,
  setHeader,
} from './headers.js';
import type { SipRequest } from './message.js';
import { formatNameAddr, parseNameAddr } from './name-addr.js';
import { formatSubscriptionState, parseSubscriptionState } from './subscription-state.js';
import { formatUri, parseUri } from './uri.js';
import { formatVia, parseVia } from './via.js';

const msg = (): SipRequest => ({
  kind: 'request',
  method: 'NOTIFY',
  uri: 'sip:w@example.com',
  version: 'SIP/2.0',
  headers: [
    {
      name: 'Via',
      value: 'SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b.example.com;branch=z9hG4bK2',
    },
    { name: 'Subject', value: 'plant-7, boiler' },
    { name: 'Date', value: 'Sat, 13 Nov 2010 23:29:00 GMT' },
    { name: 'Via', value: 'SIP/2.0/TCP c.example.com;branch=z9hG4bK3' },
    { name: 'Supported', value: 'replaces , join,,norefersub' },
  ],
  body: Buffer.alloc(0),
});

describe('header accessors', () => {
  it('getHeader/getHeaders accept any case and compact names; only list headers are split', () => {
    const m = msg();
    expect(getHeader(m, 'v')).toBe(m.headers[0].value);
    expect(getHeaders(m, 'VIA')).toHaveLength(3);
    expect(getHeaders(m, 's')).toEqual(['plant-7, boiler']);
    expect(getHeaders(m, 'Date')).toEqual(['Sat, 13 Nov 2010 23:29:00 GMT']);
    expect(getHeaders(m, 'k')).toEqual(['replaces', 'join', 'norefersub']);
    expect(getHeader(m, 'Event')).toBeUndefined();
  });

  it('setHeader replaces every occurrence at the first position; appends when absent', () => {
    const m = msg();
    setHeader(m, 'v', 'SIP/2.0/UDP only.example.com;branch=z9hG4bKx');
    expect(m.headers.map((h) => h.name)).toEqual(['Via', 'Subject', 'Date', 'Supported']);
    expect(getHeaders(m, 'Via')).toEqual(['SIP/2.0/UDP only.example.com;branch=z9hG4bKx']);
    setHeader(m, 'event', 'conference');
    expect(m.headers.at(-1)).toEqual({ name: 'Event', value: 'conference' });
  });

  it('addHeader first/last, removeHeader, and top-value edits', () => {
    const m = msg();
    addHeader(m, 'Via', 'SIP/2.0/UDP top.example.com;branch=z9hG4bK0', 'first');
    addHeader(m, 'Route', '<sip:r@example.com;lr>');
    expect(m.headers[0].value).toBe('SIP/2.0/UDP top.example.com;branch=z9hG4bK0');
    expect(m.headers.at(-1)?.name).toBe('Route');
    removeFirstHeaderValue(m, 'Via');
    removeFirstHeaderValue(m, 'Via');
    expect(getHeaders(m, 'Via').map((v) => parseVia(v).host)).toEqual(['b.example.com', 'c.example.com']);
    replaceFirstHeaderValue(m, 'Via', 'SIP/2.0/UDP z.example.com;branch=z9hG4bKz');
    expect(getHeaders(m, 'Via').map((v) => parseVia(v).host)).toEqual(['z.example.com', 'c.example.com']);
    removeHeader(m, 'VIA');
    expect(getHeaders(m, 'Via')).toEqual([]);
  });
});

describe('URIs, addresses and Via', () => {
  it('parses every part of a SIP URI', () => {
    expect(
      parseUri(
        'sips:alice:secret@Example.COM:5061;transport=tls;lr;maddr=239.255.255.1?subject=hi%20there&priority=urgent',
      ),
    ).toEqual({
      scheme: 'sips',
      user: 'alice',
      password: 'secret',
      host: 'Example.COM',
      port: 5061,
      params: { transport: 'tls', lr: null, maddr: '239.255.255.1' },
      headers: { subject: 'hi%20there', priority: 'urgent' },
    });
    expect(parseUri('sip:+1-212-555-1212;phone-context=x@gw.example.com;user=phone').user).toBe(
      '+1-212-555-1212;phone-context=x',
    );
    expect(formatUri({ scheme: 'sip', host: '2001:db8::1', port: 5060, params: {}, headers: {} })).toBe(
      'sip:[2001:db8::1]:5060',
    );
  });

  it('rejects foreign schemes with 416 and bad syntax with 400', () => {
    const status = (text: string) => {
      try {
        parseUri(text);
      } catch (err) {
        return (err as SipParseError).status;
      }
      return 0;
    };
    expect(status('tel:+1-212-555-1212')).toBe(416);
    expect(status('sip:')).toBe(400);
    expect(status('sip:host:99999')).toBe(400);
    expect(status('sip:a b@host')).toBe(400);
    expect(status('sip:[::1')).toBe(400);
    expect(status('not a uri')).toBe(400);
  });

  it('name-addr: addr-spec parameters belong to the header, <uri> parameters to the URI', () => {
    expect(parseNameAddr('sip:conf-1@example.com;isfocus;tag=x')).toEqual({
      uri: 'sip:conf-1@example.com',
      params: { isfocus: null, tag: 'x' },
    });
    expect(parseNameAddr('<sip:conf-1@example.com;transport=tcp>;expires=60')).toEqual({
      uri: 'sip:conf-1@example.com;transport=tcp',
      params: { expires: '60' },
    });
    expect(formatNameAddr({ displayName: 'say "hi"', uri: 'sip:a@b', params: { tag: '1' } })).toBe(
      '"say \\"hi\\"" <sip:a@b>;tag=1',
    );
    expect(parseNameAddr('<tel:+12125551212>').uri).toBe('tel:+12125551212');
    expect(() => parseNameAddr('"unterminated <sip:a@b>')).toThrow(SipParseError);
    expect(() => parseNameAddr('<sip:a@b')).toThrow(SipParseError);
  });

  it('Via tolerates whitespace around separators and writes the branch field', () => {
    const via = parseVia('SIP / 2.0 / udp  host.example.com : 5070 ;branch=z9hG4bKq ; rport');
    expect(via).toEqual({
      protocol: 'SIP/2.0',
      transport: 'UDP',
      host: 'host.example.com',
      port: 5070,
      params: { branch: 'z9hG4bKq', rport: null },
      branch: 'z9hG4bKq',
    });
    expect(formatVia({ ...via, branch: 'z9hG4bKnew' })).toBe(
      'SIP/2.0/UDP host.example.com:5070;branch=z9hG4bKnew;rport',
    );
  });
});

describe('CSeq, Event, Subscription-State', () => {
  it('CSeq', () => {
    expect(parseCSeq('4711  INVITE')).toEqual({ seq: 4711, method: 'INVITE' });
    expect(() => parseCSeq('x INVITE')).toThrow(SipParseError);
  });

  it('Event', () => {
    expect(parseEvent('conference;id=abc;shared')).toEqual({
      package: 'conference',
      id: 'abc',
      params: { id: 'abc', shared: null },
    });
    expect(parseEvent('presence.winfo').package).toBe('presence.winfo');
    expect(parseEvent('Conference').package).toBe('Conference'); // event types compare byte by byte
    expect(formatEvent(parseEvent('refer;id=93809824'))).toBe('refer;id=93809824');
    expect(() => parseEvent('bad package')).toThrow(SipParseError);
  });

  it('Subscription-State', () => {
    expect(parseSubscriptionState('terminated;reason=timeout;retry-after=30')).toEqual({
      state: 'terminated',
      reason: 'timeout',
      retryAfter: 30,
      params: { reason: 'timeout', 'retry-after': '30' },
    });
    expect(parseSubscriptionState('active;expires=600').expires).toBe(600);
    expect(formatSubscriptionState({ state: 'active', expires: 3600, params: {} })).toBe(
      'active;expires=3600',
    );
    expect(() => parseSubscriptionState('active;expires=soon')).toThrow(SipParseError);
  });
});
