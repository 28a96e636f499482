// Offers as a hostile or broken peer sends them: valid offers with lines mutated, numbers where names
// belong (sdp-transform turns numeric-looking fields into numbers), lines dropped or repeated. Reading
// one may only ever fail with SdpNegotiationError, and what it accepts is well typed.
import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SdpNegotiationError } from './sdp-negotiation-error.js';
import { buildTextAnswer, negotiateTextOffer, parseTextAnswer } from './text-offer-answer.js';

const VALID = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=text 49170 RTP/AVP 101 99',
  'a=rtpmap:101 red/1000',
  'a=rtpmap:99 t140/1000',
  'a=fmtp:101 99/99/99',
  'a=rtt-mixer',
  'a=senml-aggregate:500',
  'a=rtcp-mux',
  'a=recvonly',
];

const local = { address: '198.51.100.7', port: 40000, sessionId: '123' };

/** Replaces one whitespace, slash or colon separated token of a line. */
const token = fc.oneof(
  fc.integer({ min: -5, max: 70_000 }).map(String),
  fc.constantFrom('', '0', '1e3', 'NaN', 'red', 't140', 'IP6', '::1', '123', '-', '/', ':', '99/99'),
  fc.string({ maxLength: 6 }),
);

type Mutation =
  | { kind: 'token'; line: number; at: number; value: string }
  | { kind: 'drop'; line: number }
  | { kind: 'repeat'; line: number }
  | { kind: 'insert'; line: number; text: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('token' as const), line: fc.nat(), at: fc.nat(), value: token }),
  fc.record({ kind: fc.constant('drop' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('repeat' as const), line: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    line: fc.nat(),
    text: fc.oneof(
      fc.constantFrom(
        'a=rtpmap:97 123/1000',
        'a=rtpmap:99 123/1000',
        'a=rtpmap:101 7/1000',
        'a=fmtp:101 1/2',
        'c=IN IP4 123',
        'c=IN IP6 1',
        'm=text 5 RTP/AVP 99',
        'a=senml-aggregate:99999999999',
        'a=rtpmap:99',
        'a=fmtp:',
      ),
      fc.string({ maxLength: 30 }).map((s) => `a=${s}`),
    ),
  }),
);

function mutate(lines: string[], mutations: Mutation[]): string[] {
  const out = [...lines];
  for (const m of mutations) {
    if (out.length === 0) break;
    const i = m.line % out.length;
    switch (m.kind) {
      case 'token': {
        const parts = out[i].split(/([ /:=])/);
        const words = parts.map((_p, j) => j).filter((j) => j % 2 === 0);
        parts[words[m.at % words.length]] = m.value;
        out[i] = parts.join('');
        break;
      }
      case 'drop':
        out.splice(i, 1);
        break;
      case 'repeat':
        out.splice(i, 0, out[i]);
        break;
      case 'insert':
        out.splice(i, 0, m.text);
        break;
    }
  }
  return out;
}

function onlyNegotiationErrors(run: () => void): void {
  try {
    run();
  } catch (err) {
    if (!(err instanceof SdpNegotiationError)) throw err;
    expect([400, 488]).toContain(err.status);
    expect(err.warning.length).toBeGreaterThan(0);
  }
}

describe('SDP offers from a hostile peer', () => {
  it('a=rtpmap with a numeric codec name is a 488 naming the fault, not a TypeError', () => {
    const sdp = `${[...VALID.slice(0, 6), 'a=rtpmap:97 123/1000', 'a=rtpmap:101 123/1000', 'a=rtpmap:99 123/1000'].join('\r\n')}\r\n`;
    try {
      negotiateTextOffer(sdp);
      throw new Error('expected a refusal');
    } catch (err) {
      expect(err).toBeInstanceOf(SdpNegotiationError);
      expect((err as SdpNegotiationError).status).toBe(488);
      expect((err as SdpNegotiationError).warning).toMatch(/t140/);
    }
  });

  it('a non-numeric-looking rtpmap elsewhere does not spoil a usable offer', () => {
    const sdp = `${[...VALID, 'a=rtpmap:97 123/1000'].join('\r\n')}\r\n`;
    expect(negotiateTextOffer(sdp).t140Pt).toBe(99);
  });

  it('a c= address that is not an IP literal is refused with a reason', () => {
    const sdp = `${VALID.map((l) => (l.startsWith('c=') ? 'c=IN IP4 123' : l)).join('\r\n')}\r\n`;
    expect(() => negotiateTextOffer(sdp)).toThrow(/not an IP address/);
  });

  it('mutated offers and answers never throw anything but SdpNegotiationError; accepted ones are well typed', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 8 }), fc.boolean(), (mutations, lf) => {
        const sdp = mutate(VALID, mutations).join(lf ? '\n' : '\r\n');
        onlyNegotiationErrors(() => {
          const summary = negotiateTextOffer(sdp);
          expect(typeof summary.address).toBe('string');
          expect(isIP(summary.address)).not.toBe(0);
          expect(Number.isInteger(summary.port)).toBe(true);
          expect(Number.isInteger(summary.t140Pt)).toBe(true);
          if (summary.redPt !== undefined) expect(Number.isInteger(summary.redPt)).toBe(true);
          const answer = buildTextAnswer(sdp, summary, local);
          expect(parseTextAnswer(answer).t140Pt).toBe(summary.t140Pt);
        });
        onlyNegotiationErrors(() => {
          parseTextAnswer(sdp);
        });
      }),
      { numRuns: 3000 },
    );
  });
});
