import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SipParseError } from './errors.js';
import type { HeaderField, SipMessage } from './message.js';
import { formatNameAddr, parseNameAddr } from './name-addr.js';
import { parseMessage } from './parser.js';
import { serializeMessage } from './serializer.js';
import { formatUri, parseUri, type SipUri } from './uri.js';
import { formatVia, parseVia } from './via.js';

const token = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,11}$/);
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const hostname = fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join('.'));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ipv6 = fc
  .array(fc.stringMatching(/^[0-9a-f]{1,4}$/), { minLength: 8, maxLength: 8 })
  .map((g) => g.join(':'));
const host = fc.oneof(hostname, ipv4, ipv6);
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
const user = fc.stringMatching(/^([A-Za-z0-9._~!*'()&=+$,;?/-]|%[0-9A-F]{2}){1,12}$/);
const paramValue = fc.oneof(token, fc.constant(null));
const params = fc.dictionary(
  token.map((t) => t.toLowerCase()),
  paramValue,
  { maxKeys: 3 },
);
const text = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);
const utf8Text = fc.oneof(text, fc.constantFrom('plant-7/kessel/temp°C', 'Überdruck ✓', '温度/センサー'));

const sipUri: fc.Arbitrary<SipUri> = fc
  .record({
    scheme: fc.constantFrom('sip' as const, 'sips' as const),
    user: fc.option(user, { nil: undefined }),
    host,
    port,
    params: fc.dictionary(
      fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
      fc.oneof(fc.stringMatching(/^[A-Za-z0-9.:-]{1,10}$/), fc.constant(null)),
      { maxKeys: 3 },
    ),
    headers: fc.dictionary(
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,8}$/),
      fc.stringMatching(/^([A-Za-z0-9.-]|%[0-9A-F]{2}){0,10}$/),
      { maxKeys: 2 },
    ),
  })
  .map((u) => {
    const out: SipUri = { scheme: u.scheme, host: u.host, params: u.params, headers: u.headers };
    if (u.user !== undefined) out.user = u.user;
    if (u.port !== undefined) out.port = u.port;
    return out;
  });

const nameAddrText = fc
  .record({ displayName: fc.option(utf8Text, { nil: undefined }), uri: sipUri.map(formatUri), params })
  .map((v) => formatNameAddr(v.displayName === undefined ? { uri: v.uri, params: v.params } : v));

const viaText = fc
  .record({ transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'WS'), host, port, params, branch: token })
  .map((v) =>
    formatVia({
      protocol: 'SIP/2.0',
      transport: v.transport,
      host: v.host,
      port: v.port,
      params: v.params,
      branch: `z9hG4bK${v.branch}`,
    }),
  );

const extraHeader: fc.Arbitrary<HeaderField> = fc.record({
  name: fc.stringMatching(/^X-[A-Za-z0-9-]{1,10}$/),
  value: fc.oneof(utf8Text, fc.constant('')),
});

const method = fc.oneof(
  fc.constantFrom('INVITE', 'ACK', 'BYE', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'REFER'),
  fc.stringMatching(/^[A-Z]{3,10}$/),
);

const message: fc.Arbitrary<SipMessage> = fc
  .record({
    isRequest: fc.boolean(),
    method,
    uri: sipUri.map(formatUri),
    status: fc.integer({ min: 100, max: 699 }),
    reason: fc.oneof(text, fc.constant('')),
    vias: fc.array(viaText, { minLength: 1, maxLength: 3 }),
    from: nameAddrText,
    to: nameAddrText,
    callId: fc.stringMatching(/^[!-~]{1,30}$/),
    seq: fc.integer({ min: 0, max: 0x7fffffff }),
    extras: fc.array(extraHeader, { maxLength: 5 }),
    order: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
    body: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  })
  .map((g) => {
    const cseqMethod = g.method;
    const headers: HeaderField[] = [
      ...g.vias.map((value) => ({ name: 'Via', value })),
      { name: 'From', value: g.from },
      { name: 'To', value: g.to },
      { name: 'Call-ID', value: g.callId },
      { name: 'CSeq', value: `${g.seq} ${cseqMethod}` },
      { name: 'Content-Length', value: String(g.body.length) },
    ];
    // Interleave the extra headers at generated positions so header order is exercised.
    for (const [i, field] of g.extras.entries()) headers.splice(g.order[i] % (headers.length + 1), 0, field);
    return g.isRequest
      ? { kind: 'request' as const, method: g.method, uri: g.uri, version: 'SIP/2.0', headers, body: g.body }
      : {
          kind: 'response' as const,
          status: g.status,
          reason: g.reason,
          version: 'SIP/2.0',
          headers,
          body: g.body,
        };
  });

/** Rejects only with SipParseError; whatever it accepts can be written back out and reads the same. */
function neverThrowsOtherThanParseError(data: Uint8Array): void {
  let parsed: SipMessage;
  try {
    parsed = parseMessage(data);
  } catch (err) {
    if (!(err instanceof SipParseError)) throw err;
    return;
  }
  const again = parseMessage(serializeMessage(parsed));
  // Serializing adds or corrects Content-Length; everything else must survive unchanged.
  const withoutLength = (m: SipMessage) => m.headers.filter((h) => h.name !== 'Content-Length');
  expect(withoutLength(again)).toEqual(withoutLength(parsed));
  expect(again.body.equals(parsed.body)).toBe(true);
}

describe('parser properties', () => {
  it('parse(serialize(m)) equals m, header order and values kept', () => {
    fc.assert(
      fc.property(message, (m) => {
        const parsed = parseMessage(serializeMessage(m));
        expect({ ...parsed, body: [...parsed.body] }).toEqual({ ...m, body: [...m.body] });
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary bytes only ever throw SipParseError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => neverThrowsOtherThanParseError(bytes)),
      {
        numRuns: 1000,
      },
    );
  });

  it('mutated valid messages only ever throw SipParseError', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.nat(255) }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc.constantFrom(
          ':',
          ';',
          '"',
          '<',
          '>',
          '\r\n',
          '\r\n ',
          ',',
          '@',
          '[',
          ']',
          '\\',
          '=',
          ' ',
          '\0',
        ),
      }),
      fc.record({
        kind: fc.constant('delete' as const),
        at: fc.nat(),
        length: fc.integer({ min: 1, max: 20 }),
      }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(message, fc.array(mutation, { minLength: 1, maxLength: 6 }), (m, mutations) => {
        let data = serializeMessage(m);
        for (const mut of mutations) {
          const at = data.length === 0 ? 0 : mut.at % data.length;
          if (mut.kind === 'flip') {
            data = Buffer.from(data);
            if (data.length > 0) data[at] = mut.byte;
          } else if (mut.kind === 'insert')
            data = Buffer.concat([data.subarray(0, at), Buffer.from(mut.bytes), data.subarray(at)]);
          else if (mut.kind === 'delete')
            data = Buffer.concat([data.subarray(0, at), data.subarray(at + mut.length)]);
          else data = data.subarray(0, at);
        }
        neverThrowsOtherThanParseError(data);
      }),
      { numRuns: 1000 },
    );
  });

  it('parseUri(formatUri(u)) equals u', () => {
    fc.assert(
      fc.property(sipUri, (u) => {
        expect(parseUri(formatUri(u))).toEqual(u);
      }),
    );
  });

  it('name-addr and Via format/parse are mirror images', () => {
    fc.assert(
      fc.property(nameAddrText, (t) => {
        expect(formatNameAddr(parseNameAddr(t))).toBe(t);
      }),
    );
    fc.assert(
      fc.property(viaText, (t) => {
        expect(formatVia(parseVia(t))).toBe(t);
      }),
    );
  });
});
