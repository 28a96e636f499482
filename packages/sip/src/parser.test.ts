import { describe, expect, it } from 'vitest';
import { SipParseError } from './errors.js';
import { getHeader, getHeaders } from './headers.js';
import type { SipRequest, SipResponse } from './message.js';
import { parseNameAddr } from './name-addr.js';
import { parseMessage } from './parser.js';
import { serializeMessage } from './serializer.js';
import { parseUri } from './uri.js';
import { parseVia } from './via.js';

const wire = (lines: string[], body = '') => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'utf8');

function parseError(data: Buffer, opts?: { maxSize?: number }): SipParseError {
  try {
    parseMessage(data, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(SipParseError);
    return err as SipParseError;
  }
  throw new Error('expected a SipParseError');
}

const SDP =
  'v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=text 40000 RTP/AVP 98 99\r\na=rtpmap:98 red/1000\r\na=rtpmap:99 t140/1000\r\na=sendonly\r\n';

describe('parseMessage: requests', () => {
  const invite = wire(
    [
      'INVITE sip:factory@example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;rport',
      'Max-Forwards: 70',
      'From: "Boiler Sensor" <sip:sensor7@example.com>;tag=9fxced76sl',
      'To: <sip:factory@example.com>',
      'Call-ID: 3848276298220188511@192.0.2.10',
      'CSeq: 1 INVITE',
      'Contact: <sip:sensor7@192.0.2.10:5060>',
      'Subject: plant-7/boiler/temp',
      'Content-Type: application/sdp',
      `Content-Length: ${SDP.length}`,
    ],
    SDP,
  );

  it('parses an INVITE with an SDP body, byte-exact round trip', () => {
    const msg = parseMessage(invite) as SipRequest;
    expect(msg.kind).toBe('request');
    expect(msg.method).toBe('INVITE');
    expect(msg.uri).toBe('sip:factory@example.com');
    expect(msg.version).toBe('SIP/2.0');
    expect(msg.headers.map((h) => h.name)).toEqual([
      'Via',
      'Max-Forwards',
      'From',
      'To',
      'Call-ID',
      'CSeq',
      'Contact',
      'Subject',
      'Content-Type',
      'Content-Length',
    ]);
    expect(getHeader(msg, 'subject')).toBe('plant-7/boiler/temp');
    expect(msg.body.toString('utf8')).toBe(SDP);
    expect(serializeMessage(msg).equals(invite)).toBe(true);
  });

  it('expands compact header names and accepts them in lookups', () => {
    const data = wire([
      'OPTIONS sip:conf-abc@example.com SIP/2.0',
      'v: SIP/2.0/TCP client.example.com:5070;branch=z9hG4bKnashds7',
      'f: <sip:alice@example.com>;tag=1928301774',
      't: <sip:conf-abc@example.com>',
      'i: a84b4c76e66710',
      'CSeq: 63104 OPTIONS',
      'm: <sip:alice@client.example.com:5070;transport=tcp>',
      'k: replaces, join',
      'o: conference',
      'u: conference, refer',
      'r: <sip:bob@example.com>',
      'c: text/plain',
      'l: 0',
    ]);
    const msg = parseMessage(data);
    expect(msg.headers.map((h) => h.name)).toEqual([
      'Via',
      'From',
      'To',
      'Call-ID',
      'CSeq',
      'Contact',
      'Supported',
      'Event',
      'Allow-Events',
      'Refer-To',
      'Content-Type',
      'Content-Length',
    ]);
    expect(getHeader(msg, 'i')).toBe('a84b4c76e66710');
    expect(getHeader(msg, 'CALL-ID')).toBe('a84b4c76e66710');
    expect(getHeaders(msg, 'Supported')).toEqual(['replaces', 'join']);
    expect(serializeMessage(msg).toString()).toBe(
      [
        'OPTIONS sip:conf-abc@example.com SIP/2.0',
        'Via: SIP/2.0/TCP client.example.com:5070;branch=z9hG4bKnashds7',
        'From: <sip:alice@example.com>;tag=1928301774',
        'To: <sip:conf-abc@example.com>',
        'Call-ID: a84b4c76e66710',
        'CSeq: 63104 OPTIONS',
        'Contact: <sip:alice@client.example.com:5070;transport=tcp>',
        'Supported: replaces, join',
        'Event: conference',
        'Allow-Events: conference, refer',
        'Refer-To: <sip:bob@example.com>',
        'Content-Type: text/plain',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
  });

  it('unfolds continuation lines into one value with single spaces', () => {
    const data = wire([
      'SUBSCRIBE sip:conf-abc@example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1',
      'From: <sip:w@example.com>;tag=1',
      'To: <sip:conf-abc@example.com>',
      'Call-ID: fold1',
      'CSeq: 1 SUBSCRIBE',
      'Subject: first part',
      ' \t  second part',
      '\tthird',
      'Event: conference',
      'Content-Length: 0',
    ]);
    const msg = parseMessage(data);
    expect(getHeader(msg, 'Subject')).toBe('first part second part third');
    expect(getHeader(msg, 'Event')).toBe('conference');
  });

  it('keeps multi-value Via and Contact fields and splits them in getHeaders', () => {
    const data = wire([
      'NOTIFY sip:w@192.0.2.7 SIP/2.0',
      'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1, SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKu1;received=192.0.2.99',
      'Via: SIP/2.0/TCP edge.example.com:5060;branch=z9hG4bKe1',
      'From: <sip:conf-abc@example.com>;tag=f1',
      'To: <sip:w@example.com>;tag=t1',
      'Call-ID: multi',
      'CSeq: 4 NOTIFY',
      'Contact: "A, B" <sip:a@example.com>;expires=60, <sip:b@example.com;transport=tcp>;q=0.5',
      'Content-Length: 0',
    ]);
    const msg = parseMessage(data);
    expect(msg.headers.filter((h) => h.name === 'Via')).toHaveLength(2);
    const vias = getHeaders(msg, 'Via').map(parseVia);
    expect(vias.map((v) => v.host)).toEqual(['proxy.example.com', '192.0.2.9', 'edge.example.com']);
    expect(vias[1]).toEqual({
      protocol: 'SIP/2.0',
      transport: 'UDP',
      host: '192.0.2.9',
      port: 5062,
      params: { branch: 'z9hG4bKu1', received: '192.0.2.99' },
      branch: 'z9hG4bKu1',
    });
    const contacts = getHeaders(msg, 'Contact').map(parseNameAddr);
    expect(contacts).toEqual([
      { displayName: 'A, B', uri: 'sip:a@example.com', params: { expires: '60' } },
      { uri: 'sip:b@example.com;transport=tcp', params: { q: '0.5' } },
    ]);
    expect(serializeMessage(msg).equals(data)).toBe(true);
  });

  it('reads quoted display names with escapes', () => {
    const data = wire([
      'MESSAGE sip:conf-abc@example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2',
      'From: "Line \\"7\\" \\\\ boiler" <sip:l7@example.com>;tag=q',
      'To: Plant   Seven <sip:conf-abc@example.com>',
      'Call-ID: quoted',
      'CSeq: 2 MESSAGE',
      'Content-Length: 0',
    ]);
    const msg = parseMessage(data);
    expect(parseNameAddr(getHeader(msg, 'From')!)).toEqual({
      displayName: 'Line "7" \\ boiler',
      uri: 'sip:l7@example.com',
      params: { tag: 'q' },
    });
    expect(parseNameAddr(getHeader(msg, 'To')!).displayName).toBe('Plant Seven');
    expect(serializeMessage(msg).equals(data)).toBe(true);
  });

  it('handles IPv6 hosts in Via and in URIs', () => {
    const data = wire([
      'REGISTER sip:[2001:db8::10]:5070;transport=udp SIP/2.0',
      'Via: SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3;received=2001:db8::9:255',
      'From: <sip:user@[2001:db8::10]>;tag=81x2',
      'To: <sip:user@[2001:db8::10]>',
      'Call-ID: SSG9559905523997077@hlau_4100',
      'CSeq: 8 REGISTER',
      'Contact: <sip:user@[2001:db8::9:1]:6050>',
      'Content-Length: 0',
    ]);
    const msg = parseMessage(data) as SipRequest;
    expect(parseUri(msg.uri)).toEqual({
      scheme: 'sip',
      host: '2001:db8::10',
      port: 5070,
      params: { transport: 'udp' },
      headers: {},
    });
    const via = parseVia(getHeader(msg, 'Via')!);
    expect(via.host).toBe('2001:db8::9:1');
    expect(via.port).toBe(6050);
    expect(via.params.received).toBe('2001:db8::9:255');
    expect(serializeMessage(msg).equals(data)).toBe(true);
  });

  it('ignores CRLFs before the start line and bytes beyond Content-Length on a datagram', () => {
    const data = Buffer.concat([
      Buffer.from('\r\n\r\n'),
      wire(
        [
          'BYE sip:a@192.0.2.1 SIP/2.0',
          'Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKb',
          'From: <sip:b@example.com>;tag=1',
          'To: <sip:a@example.com>;tag=2',
          'Call-ID: excess',
          'CSeq: 9 BYE',
          'Content-Length: 4',
        ],
        'abcdEXTRA',
      ),
    ]);
    const msg = parseMessage(data);
    expect(msg.body.toString()).toBe('abcd');
  });

  it('takes the rest of the datagram as body when Content-Length is absent', () => {
    const data = wire(
      [
        'MESSAGE sip:a@192.0.2.1 SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKm',
        'From: <sip:b@example.com>;tag=1',
        'To: <sip:a@example.com>',
        'Call-ID: nolength',
        'CSeq: 1 MESSAGE',
      ],
      'hello',
    );
    expect(parseMessage(data).body.toString()).toBe('hello');
  });
});

describe('parseMessage: responses', () => {
  it('parses a 200 OK with a multi-word reason and a 100 with none', () => {
    const data = wire([
      'SIP/2.0 302 Moved Temporarily',
      'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;received=198.51.100.4;rport=40123',
      'From: "Boiler Sensor" <sip:sensor7@example.com>;tag=9fxced76sl',
      'To: <sip:factory@example.com>;tag=8321234356',
      'Call-ID: 3848276298220188511@192.0.2.10',
      'CSeq: 1 INVITE',
      'Contact: <sip:conf-k3j4h5g6f7d8s9a0q1w2@example.com>;isfocus',
      'Content-Length: 0',
    ]);
    const msg = parseMessage(data) as SipResponse;
    expect(msg).toMatchObject({
      kind: 'response',
      status: 302,
      reason: 'Moved Temporarily',
      version: 'SIP/2.0',
    });
    expect(parseNameAddr(getHeader(msg, 'Contact')!).params).toEqual({ isfocus: null });
    expect(serializeMessage(msg).equals(data)).toBe(true);

    const trying = parseMessage(
      wire([
        'SIP/2.0 100',
        'Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1',
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:b@example.com>',
        'Call-ID: x',
        'CSeq: 1 INVITE',
        'Content-Length: 0',
      ]),
    ) as SipResponse;
    expect(trying.status).toBe(100);
    expect(trying.reason).toBe('');
  });
});

describe('parseMessage: errors', () => {
  const base = [
    'INVITE sip:factory@example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1',
    'From: <sip:a@example.com>;tag=1',
    'To: <sip:factory@example.com>',
    'Call-ID: err',
    'CSeq: 1 INVITE',
    'Content-Length: 0',
  ];
  const without = (name: string) => wire(base.filter((l) => !l.startsWith(`${name}:`)));

  it.each(['Via', 'From', 'To', 'Call-ID', 'CSeq'])(
    'missing %s → 400 naming the header, with a partial',
    (name) => {
      const err = parseError(without(name));
      expect(err.status).toBe(400);
      expect(err.message).toContain(name);
      expect(err.partial).toMatchObject({
        kind: 'request',
        method: 'INVITE',
        uri: 'sip:factory@example.com',
      });
      expect(err.partial?.headers?.some((h) => h.name === name)).toBe(false);
    },
  );

  it('SIP/3.0 → 505 on requests and responses, with a partial to route the answer', () => {
    const err = parseError(wire(['INVITE sip:a@example.com SIP/3.0', ...base.slice(1)]));
    expect(err.status).toBe(505);
    expect(err.partial?.headers?.map((h) => h.name)).toEqual([
      'Via',
      'From',
      'To',
      'Call-ID',
      'CSeq',
      'Content-Length',
    ]);
    expect(parseError(wire(['INVITE sip:a@example.com SIP/2', ...base.slice(1)])).status).toBe(400);
    expect(parseError(wire(['SIP/3.0 200 OK', ...base.slice(1)])).status).toBe(505);
  });

  it('non-numeric or out-of-range CSeq → 400', () => {
    const bad = (cseq: string) => wire(base.map((l) => (l.startsWith('CSeq:') ? `CSeq: ${cseq}` : l)));
    for (const cseq of ['one INVITE', '1', '-1 INVITE', '2147483648 INVITE', '1 BYE']) {
      const err = parseError(bad(cseq));
      expect(err.status).toBe(400);
      expect(err.message).toMatch(/CSeq/);
    }
  });

  it('oversize → 513, still with the routable partial', () => {
    const big = wire(
      base.map((l) => (l.startsWith('Content-Length') ? 'Content-Length: 2000' : l)),
      'x'.repeat(2000),
    );
    const err = parseError(big, { maxSize: 1024 });
    expect(err.status).toBe(513);
    expect(err.partial?.headers?.find((h) => h.name === 'Call-ID')?.value).toBe('err');
  });

  it('body shorter than Content-Length → 400', () => {
    const err = parseError(
      wire(
        base.map((l) => (l.startsWith('Content-Length') ? 'Content-Length: 10' : l)),
        'short',
      ),
    );
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/Content-Length/);
  });

  it('unsupported Request-URI scheme → 416', () => {
    expect(parseError(wire(['INVITE mailto:a@example.com SIP/2.0', ...base.slice(1)])).status).toBe(416);
  });

  it('malformed lines → 400', () => {
    expect(parseError(wire(['INVITE  sip:a@example.com SIP/2.0', ...base.slice(1)])).status).toBe(400);
    expect(parseError(wire([...base.slice(0, 2), 'no colon here', ...base.slice(2)])).status).toBe(400);
    expect(
      parseError(wire([...base.slice(0, 2), 'Via: SIP/2.0/UDP ;branch=x', ...base.slice(2)])).status,
    ).toBe(400);
    expect(parseError(wire([...base, 'Call-ID: duplicate'])).message).toContain('Duplicate Call-ID');
    expect(parseError(Buffer.from('\r\n\r\n')).status).toBe(400);
  });
});
