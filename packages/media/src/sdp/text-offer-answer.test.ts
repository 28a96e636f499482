import fc from 'fast-check';
import { parse } from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { SdpNegotiationError } from './sdp-negotiation-error.js';
import {
  buildSessionDescription,
  buildTextAnswer,
  createTextOffer,
  negotiateTextOffer,
  parseTextAnswer,
} from './text-offer-answer.js';

const crlf = (lines: string[]) => `${lines.join('\r\n')}\r\n`;

function offer(
  opts: { direction?: string; extra?: string[]; text?: string[]; before?: string[] } = {},
): string {
  return crlf([
    'v=0',
    'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
    's=-',
    'c=IN IP4 192.0.2.10',
    't=0 0',
    ...(opts.before ?? []),
    ...(opts.text ?? [
      'm=text 49170 RTP/AVP 101 99',
      'a=rtpmap:101 red/1000',
      'a=rtpmap:99 t140/1000',
      'a=fmtp:101 99/99/99',
    ]),
    ...(opts.direction ? [`a=${opts.direction}`] : []),
    ...(opts.extra ?? []),
  ]);
}

const local = { address: '198.51.100.7', port: 40000, sessionId: '123' };

function expectNegotiationError(fn: () => unknown, status: number, warning: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SdpNegotiationError);
    expect((err as SdpNegotiationError).status).toBe(status);
    expect((err as SdpNegotiationError).warning).toMatch(warning);
    return;
  }
  throw new Error('expected an SdpNegotiationError');
}

describe('negotiateTextOffer / buildTextAnswer (PROFILE "Roles from SDP")', () => {
  it.each([
    ['sendonly', 'publisher', 'recvonly'],
    ['recvonly', 'subscriber', 'sendonly'],
    ['sendrecv', 'both', 'sendrecv'],
    [undefined, 'both', 'sendrecv'],
    ['inactive', 'inactive', 'inactive'],
  ])('offer %s → %s, answer a=%s', (direction, role, answered) => {
    const sdp = offer({ direction });
    const summary = negotiateTextOffer(sdp);
    expect(summary.role).toBe(role);
    const answer = parse(buildTextAnswer(sdp, summary, local));
    expect(answer.media[0].direction).toBe(answered);
  });

  it('takes the direction from the session level when the media line has none', () => {
    const sdp = offer({ before: ['a=sendonly'] });
    expect(negotiateTextOffer(sdp).role).toBe('publisher');
  });

  it('reads address, port, payload types and redundancy from the offer', () => {
    expect(negotiateTextOffer(offer({ direction: 'sendonly' }))).toEqual({
      address: '192.0.2.10',
      port: 49170,
      t140Pt: 99,
      redPt: 101,
      redundancy: 2,
      direction: 'sendonly',
      role: 'publisher',
      mode: 'translate',
      rtcpMux: false,
    });
  });

  it('keeps the offerer payload type numbers in the answer, byte for byte', () => {
    const sdp = offer({ direction: 'sendonly', extra: ['a=rtcp-mux'] });
    expect(buildTextAnswer(sdp, negotiateTextOffer(sdp), local)).toBe(
      crlf([
        'v=0',
        'o=- 123 1 IN IP4 198.51.100.7',
        's=-',
        'c=IN IP4 198.51.100.7',
        't=0 0',
        'm=text 40000 RTP/AVP 101 99',
        'a=rtpmap:101 red/1000',
        'a=rtpmap:99 t140/1000',
        'a=fmtp:101 99/99/99',
        'a=recvonly',
        'a=rtcp-mux',
      ]),
    );
  });

  it('answers other m= lines with port 0, same number and order of m-lines', () => {
    const sdp = offer({
      before: ['m=audio 49172 RTP/AVP 0 8', 'a=rtpmap:0 PCMU/8000'],
      extra: ['m=video 49174 RTP/AVP 96', 'a=rtpmap:96 H264/90000'],
    });
    const answer = parse(buildTextAnswer(sdp, negotiateTextOffer(sdp), local));
    expect(answer.media.map((m) => [m.type, m.port, String(m.payloads)])).toEqual([
      ['audio', 0, '0 8'],
      ['text', 40000, '101 99'],
      ['video', 0, '96'],
    ]);
  });

  it('answers a second m=text line with port 0', () => {
    const sdp = offer({ extra: ['m=text 49180 RTP/AVP 98', 'a=rtpmap:98 t140/1000'] });
    const answer = parse(buildTextAnswer(sdp, negotiateTextOffer(sdp), local));
    expect(answer.media.map((m) => m.port)).toEqual([40000, 0]);
  });

  it('accepts plain T.140 without RED', () => {
    const sdp = offer({ text: ['m=text 5000 RTP/AVP 98', 'a=rtpmap:98 T140/1000'] });
    const summary = negotiateTextOffer(sdp);
    expect(summary).toMatchObject({ t140Pt: 98, redundancy: 0 });
    expect(summary.redPt).toBeUndefined();
    const answer = parse(buildTextAnswer(sdp, summary, local));
    expect(String(answer.media[0].payloads)).toBe('98');
    expect(answer.media[0].fmtp).toEqual([]);
  });

  it('a=rtt-mixer selects mix mode and is echoed', () => {
    const sdp = offer({ direction: 'recvonly', extra: ['a=rtt-mixer'] });
    const summary = negotiateTextOffer(sdp);
    expect(summary.mode).toBe('mix');
    expect(buildTextAnswer(sdp, summary, local)).toContain('a=rtt-mixer\r\n');
    expect(buildTextAnswer(offer(), negotiateTextOffer(offer()), local)).not.toContain('rtt-mixer');
  });

  it.each([
    ['500', 500],
    ['10', 20],
    ['9000', 5000],
  ])('a=senml-aggregate:%s selects aggregate mode with window %i, echoed', (value, applied) => {
    const sdp = offer({ direction: 'recvonly', extra: [`a=senml-aggregate:${value}`] });
    const summary = negotiateTextOffer(sdp);
    expect(summary.mode).toBe('aggregate');
    expect(summary.aggregateWindowMs).toBe(applied);
    const answer = buildTextAnswer(sdp, summary, local);
    expect(answer).toContain(`a=senml-aggregate:${applied}\r\n`);
    expect(parseTextAnswer(answer).aggregateWindowMs).toBe(applied);
  });

  it('ignores a senml-aggregate attribute without a number', () => {
    expect(negotiateTextOffer(offer({ extra: ['a=senml-aggregate:soon'] })).mode).toBe('translate');
  });

  it('no m=text → 488 with a warning', () => {
    const sdp = offer({ text: ['m=audio 49172 RTP/AVP 0'] });
    expectNegotiationError(() => negotiateTextOffer(sdp), 488, /^no m=text media line$/);
  });

  it('neither t140 nor red offered → 488', () => {
    const sdp = offer({ text: ['m=text 49170 RTP/AVP 97', 'a=rtpmap:97 foo/1000'] });
    expectNegotiationError(() => negotiateTextOffer(sdp), 488, /t140/);
  });

  it('m=text with port 0 or an unsupported transport → 488', () => {
    expectNegotiationError(
      () => negotiateTextOffer(offer({ text: ['m=text 0 RTP/AVP 98', 'a=rtpmap:98 t140/1000'] })),
      488,
      /port 0/,
    );
    expectNegotiationError(
      () => negotiateTextOffer(offer({ text: ['m=text 5000 RTP/SAVP 98', 'a=rtpmap:98 t140/1000'] })),
      488,
      /transport/,
    );
  });

  it('unparseable SDP → 400', () => {
    expectNegotiationError(() => negotiateTextOffer('hello'), 400, /v=0/);
    expectNegotiationError(() => negotiateTextOffer('v=0\r\nm=text 5000 RTP/AVP 98\r\n'), 400, /o=/);
    expectNegotiationError(
      () =>
        negotiateTextOffer(
          'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=text 5000 RTP/AVP 98\r\na=rtpmap:98 t140/1000\r\n',
        ),
      400,
      /c=/,
    );
  });

  it('throws only SdpNegotiationError on arbitrary input', () => {
    const lines = fc.array(
      fc.oneof(
        fc.string(),
        fc.constantFrom(
          'm=text 5000 RTP/AVP 98 100',
          'm=text x RTP/AVP',
          'm=audio 0 RTP/AVP 0',
          'm=audio 7 RTP/AVP',
          'm=text 99999999 RTP/AVP 98',
          'a=rtpmap:98 t140/1000',
          'a=rtpmap:100 red/1000',
          'a=fmtp:100 98/98',
          'a=fmtp:100',
          'c=IN IP4 1.2.3.4',
          'c=IN',
          'a=senml-aggregate:',
          'a=sendonly',
          'o=- 1 1 IN IP4 1.2.3.4',
        ),
      ),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(fc.boolean(), lines, (withVersion, body) => {
        const sdp = (withVersion ? ['v=0', ...body] : body).join('\r\n');
        try {
          const summary = negotiateTextOffer(sdp);
          buildTextAnswer(sdp, summary, local);
        } catch (err) {
          expect(err).toBeInstanceOf(SdpNegotiationError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('createTextOffer / parseTextAnswer', () => {
  it('creates the PROFILE offer with defaults', () => {
    expect(
      createTextOffer({ address: '203.0.113.5', port: 6000, direction: 'sendonly', sessionId: '9' }),
    ).toBe(
      crlf([
        'v=0',
        'o=- 9 1 IN IP4 203.0.113.5',
        's=-',
        'c=IN IP4 203.0.113.5',
        't=0 0',
        'm=text 6000 RTP/AVP 100 98',
        'a=rtpmap:100 red/1000',
        'a=rtpmap:98 t140/1000',
        'a=fmtp:100 98/98/98',
        'a=sendonly',
      ]),
    );
  });

  it('round-trips through the focus: offer → negotiate → answer → parseTextAnswer', () => {
    const sdp = createTextOffer({
      address: '2001:db8::1',
      port: 6000,
      direction: 'recvonly',
      t140Pt: 110,
      redPt: 111,
      redundancy: 3,
      aggregateWindowMs: 250,
      rtcpMux: true,
    });
    const summary = negotiateTextOffer(sdp);
    expect(summary).toMatchObject({
      address: '2001:db8::1',
      t140Pt: 110,
      redPt: 111,
      redundancy: 3,
      role: 'subscriber',
      rtcpMux: true,
    });
    const answer = buildTextAnswer(sdp, summary, local);
    expect(parseTextAnswer(answer)).toEqual({
      address: '198.51.100.7',
      port: 40000,
      t140Pt: 110,
      redPt: 111,
      direction: 'sendonly',
      aggregateWindowMs: 250,
    });
  });

  it('offers plain T.140 when red is false, and a mixer', () => {
    const sdp = createTextOffer({
      address: '203.0.113.5',
      port: 6000,
      direction: 'recvonly',
      red: false,
      mixer: true,
    });
    expect(sdp).toContain('m=text 6000 RTP/AVP 98\r\n');
    expect(sdp).not.toContain('red/1000');
    expect(negotiateTextOffer(sdp).mode).toBe('mix');
  });

  it('rejects an answer whose text stream has port 0', () => {
    const answer = crlf([
      'v=0',
      'o=- 1 1 IN IP4 1.2.3.4',
      's=-',
      'c=IN IP4 1.2.3.4',
      't=0 0',
      'm=text 0 RTP/AVP 98',
    ]);
    expectNegotiationError(() => parseTextAnswer(answer), 488, /port 0/);
  });

  it('builds an OPTIONS body that describes our text media', () => {
    const summary = negotiateTextOffer(buildSessionDescription({ address: '192.0.2.1', port: 5004 }));
    expect(summary).toMatchObject({
      address: '192.0.2.1',
      port: 5004,
      t140Pt: 98,
      redPt: 100,
      redundancy: 2,
      direction: 'sendrecv',
    });
  });
});
