import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getHeader, getHeaders } from './headers.js';
import { peekMessage, rawHeaderFields, SourceIntakeGate, statelessResponse } from './intake-gate.js';
import type { SipRequest, SipResponse } from './message.js';
import { parseNameAddr } from './name-addr.js';
import { parseMessage } from './parser.js';

function request(method: string, opts: { toTag?: string; compact?: boolean; extra?: string[] } = {}): Buffer {
  const c = opts.compact;
  return Buffer.from(
    [
      `${method} sip:factory@localhost SIP/2.0`,
      `${c ? 'v' : 'Via'}: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKg1;rport`,
      'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKg0',
      'Max-Forwards: 70',
      `${c ? 'f' : 'From'}: "A" <sip:a@example.com>;tag=f1`,
      `${c ? 't' : 'To'}: <sip:factory@localhost;tag=uri-param>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
      `${c ? 'i' : 'Call-ID'}: gate-1@example.com`,
      `CSeq: 7 ${method}`,
      ...(opts.extra ?? []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

describe('peekMessage', () => {
  it('tells requests from responses and finds the To tag outside the URI', () => {
    expect(peekMessage(request('INVITE'))).toEqual({ kind: 'request', method: 'INVITE', hasToTag: false });
    expect(peekMessage(request('BYE', { toTag: 'x1' }))).toEqual({
      kind: 'request',
      method: 'BYE',
      hasToTag: true,
    });
    expect(peekMessage(request('BYE', { toTag: 'x1', compact: true })).hasToTag).toBe(true);
    expect(peekMessage(Buffer.from('SIP/2.0 200 OK\r\n\r\n')).kind).toBe('response');
    expect(peekMessage(Buffer.from('\x00\x01garbage')).kind).toBe('unknown');
    // A folded To line, and header names that only start like To.
    const folded =
      'BYE sip:a SIP/2.0\r\nTo-X: y;tag=no\r\nTag: 1\r\nTO : <sip:b@example.com>\r\n  ;tag=yes\r\n\r\n';
    expect(peekMessage(Buffer.from(folded)).hasToTag).toBe(true);
    expect(
      peekMessage(Buffer.from('BYE sip:a SIP/2.0\r\nTo-X: y;tag=no\r\n\r\nTo: <sip:b>;tag=body\r\n'))
        .hasToTag,
    ).toBe(false);
  });

  it('property: agrees with the full parser on method and To tag, for well-formed requests', () => {
    const method = fc.constantFrom('INVITE', 'BYE', 'OPTIONS', 'SUBSCRIBE', 'ACK', 'CANCEL', 'REFER');
    const tag = fc.option(fc.stringMatching(/^[A-Za-z0-9.~-]{1,12}$/), { nil: undefined });
    fc.assert(
      fc.property(method, tag, fc.boolean(), (m, toTag, compact) => {
        const data = request(m, { toTag, compact });
        const full = parseMessage(data) as SipRequest;
        const peek = peekMessage(data);
        expect(peek.method).toBe(full.method);
        expect(peek.hasToTag).toBe(typeof parseNameAddr(getHeader(full, 'To') ?? '').params.tag === 'string');
      }),
    );
  });

  it('property: never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const peek = peekMessage(Buffer.from(bytes));
        expect(['request', 'response', 'unknown']).toContain(peek.kind);
      }),
    );
  });
});

describe('rawHeaderFields', () => {
  it('unfolds continuation lines and stops at the empty line', () => {
    const data = Buffer.from('OPTIONS sip:a SIP/2.0\r\nSubject: one\r\n  two\r\nX: 1\r\n\r\nBody: no\r\n');
    expect(rawHeaderFields(data)).toEqual([
      { name: 'subject', value: 'one two' },
      { name: 'x', value: '1' },
    ]);
  });
});

/** Well-formed requests with bytes overwritten by delimiters, so the answerable paths are exercised too. */
const mangledRequests = fc
  .tuple(
    fc.constantFrom('INVITE', 'BYE', 'OPTIONS'),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom(13, 10, 0, 32, 58, 59)), { maxLength: 6 }),
  )
  .map(([method, edits]) => {
    const data = Buffer.from(request(method));
    for (const [at, byte] of edits) data[at % data.length] = byte;
    return new Uint8Array(data);
  });

describe('statelessResponse', () => {
  it('copies Vias, From, To (adding a tag), Call-ID and CSeq, and parses back', () => {
    const data = request('INVITE');
    const res = parseMessage(
      statelessResponse(data, 503, 'Rate Limit Exceeded', [{ name: 'Retry-After', value: '2' }])!,
    ) as SipResponse;
    const req = parseMessage(data) as SipRequest;
    expect(res.status).toBe(503);
    expect(getHeaders(res, 'Via')).toEqual(getHeaders(req, 'Via'));
    expect(getHeader(res, 'Call-ID')).toBe(getHeader(req, 'Call-ID'));
    expect(getHeader(res, 'CSeq')).toBe('7 INVITE');
    expect(getHeader(res, 'Retry-After')).toBe('2');
    expect(parseNameAddr(getHeader(res, 'To')!).params.tag).toMatch(/^[0-9a-f]{16}$/);
  });

  it('keeps an existing To tag, and gives nothing for a request it cannot answer', () => {
    const res = parseMessage(statelessResponse(request('BYE', { toTag: 'keep' }), 503, 'X')!) as SipResponse;
    expect(parseNameAddr(getHeader(res, 'To')!).params.tag).toBe('keep');
    expect(
      statelessResponse(Buffer.from('INVITE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n'), 503, 'X'),
    ).toBeUndefined();
  });

  it('property: for any well-formed request the response parses and matches its transaction', () => {
    const method = fc.constantFrom('INVITE', 'BYE', 'OPTIONS', 'SUBSCRIBE', 'REFER');
    const tag = fc.option(fc.stringMatching(/^[A-Za-z0-9]{1,10}$/), { nil: undefined });
    fc.assert(
      fc.property(method, tag, fc.boolean(), (m, toTag, compact) => {
        const data = request(m, { toTag, compact });
        const req = parseMessage(data) as SipRequest;
        const res = parseMessage(statelessResponse(data, 503, 'Rate Limit Exceeded')!) as SipResponse;
        expect(getHeaders(res, 'Via')).toEqual(getHeaders(req, 'Via'));
        expect(getHeader(res, 'CSeq')).toBe(getHeader(req, 'CSeq'));
        expect(getHeader(res, 'From')).toBe(getHeader(req, 'From'));
      }),
    );
  });

  it('property: never throws on arbitrary bytes, and whatever it builds is one SIP response', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), mangledRequests), (bytes) => {
        const out = statelessResponse(Buffer.from(bytes), 503, 'X');
        if (!out) return;
        const text = out.toString('latin1');
        expect(text).toMatch(/^SIP\/2\.0 503 X\r\n[\s\S]*\r\n\r\n$/);
        // Every line ends in CRLF; no bare CR or LF could split a header in two.
        expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
      }),
    );
  });
});

describe('SourceIntakeGate', () => {
  const gate = (t: { now: number }) =>
    new SourceIntakeGate({
      newRequests: { rate: 1, burst: 2 },
      inDialog: { rate: 1, burst: 3 },
      rejections: { rate: 1, burst: 1 },
      now: () => t.now,
    });

  it('passes within budget, then one stateless 503 per rejection budget, then drops', () => {
    const t = { now: 0 };
    const g = gate(t);
    const decisions = [1, 2, 3, 4].map(() => g.check(request('INVITE'), '192.0.2.9'));
    expect(decisions.map((d) => d.kind)).toEqual(['pass', 'pass', 'reject', 'drop']);
    const rejected = decisions[2];
    if (rejected.kind !== 'reject') throw new Error('no rejection');
    const res = parseMessage(rejected.response) as SipResponse;
    expect(res.status).toBe(503);
    expect(Number(getHeader(res, 'Retry-After'))).toBeGreaterThanOrEqual(1);
    // Another source has its own budgets.
    expect(g.check(request('INVITE'), '192.0.2.10').kind).toBe('pass');
    t.now = 1_000;
    expect(g.check(request('INVITE'), '192.0.2.9').kind).toBe('pass');
  });

  it('in-dialog requests, ACK, CANCEL and responses spend a budget of their own', () => {
    const g = gate({ now: 0 });
    for (let i = 0; i < 5; i++) g.check(request('INVITE'), '192.0.2.9');
    expect(g.check(request('BYE', { toTag: 'a' }), '192.0.2.9').kind).toBe('pass');
    expect(g.check(request('ACK', { toTag: 'a' }), '192.0.2.9').kind).toBe('pass');
    expect(g.check(request('CANCEL'), '192.0.2.9').kind).toBe('pass');
    // That budget spent: an ACK and a response are dropped (nothing answers them).
    expect(g.check(request('ACK', { toTag: 'a' }), '192.0.2.9')).toEqual({
      kind: 'drop',
      class: 'in-dialog',
    });
    expect(g.check(Buffer.from('SIP/2.0 200 OK\r\n\r\n'), '192.0.2.9')).toEqual({
      kind: 'drop',
      class: 'in-dialog',
    });
  });

  it('with no budgets configured everything passes', () => {
    const g = new SourceIntakeGate({ newRequests: null, inDialog: null, rejections: null });
    for (let i = 0; i < 100; i++) expect(g.check(request('INVITE'), '192.0.2.9').kind).toBe('pass');
  });
});
