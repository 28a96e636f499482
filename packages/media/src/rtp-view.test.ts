import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRtp, RtpParseError, serializeRtp } from './rtp-packet.js';
import { RTP_BAD_VERSION, RTP_TOO_SHORT, RTP_VIEW_OK, RtpView } from './rtp-view.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RtpView (RFC 3550 §5.1, read in place)', () => {
  it('reads a packet with a CSRC, an extension and padding without copying', () => {
    // V=2 P X CC=1, M, PT 98, seq 1, ts 2, SSRC 3, CSRC 7, extension profile 0xbede of one word, "hi", 2 padding.
    const wire = hex('b1 e2 0001 00000002 00000003 00000007 bede0001 01020304 6869 0002');
    const v = new RtpView();
    expect(v.read(wire)).toBe(RTP_VIEW_OK);
    expect([v.marker, v.payloadType, v.sequenceNumber, v.timestamp, v.ssrc]).toEqual([true, 98, 1, 2, 3]);
    expect([v.csrcCount, v.csrc(0), v.extensionLength, v.paddingSize]).toEqual([1, 7, 4, 2]);
    expect(Buffer.from(v.payload).toString()).toBe('hi');
    expect(v.payload.buffer).toBe(wire.buffer);
  });

  it('names what is wrong with a datagram that is not RTP', () => {
    const v = new RtpView();
    expect(v.read(hex('80 62 0001'))).toBe(RTP_TOO_SHORT);
    expect(v.read(hex('40 62 0001 00000002 00000003'))).toBe(RTP_BAD_VERSION);
  });

  it('a view reused for another packet shows that packet, not the last one', () => {
    const v = new RtpView();
    v.read(hex('80 62 0001 00000002 00000003 6162'));
    expect(Buffer.from(v.payload).toString()).toBe('ab');
    v.read(hex('80 64 0009 00000002 00000004 63'));
    expect([v.payloadType, v.sequenceNumber, v.ssrc, Buffer.from(v.payload).toString()]).toEqual([
      100,
      9,
      4,
      'c',
    ]);
  });

  it('on arbitrary bytes agrees with parseRtp: the same verdict and, when valid, the same fields', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (bytes, forceV2) => {
        if (forceV2 && bytes.length > 0) bytes[0] = (bytes[0] & 0x3f) | 0x80;
        const v = new RtpView();
        const verdict = v.read(bytes);
        let parsed: ReturnType<typeof parseRtp> | undefined;
        try {
          parsed = parseRtp(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(RtpParseError);
        }
        expect(verdict === RTP_VIEW_OK).toBe(parsed !== undefined);
        if (!parsed) return;
        expect(v.payloadOffset).toBeGreaterThanOrEqual(12);
        expect(v.payloadEnd).toBeLessThanOrEqual(bytes.length);
        expect([v.marker, v.payloadType, v.sequenceNumber, v.timestamp, v.ssrc]).toEqual([
          parsed.marker,
          parsed.payloadType,
          parsed.sequenceNumber,
          parsed.timestamp,
          parsed.ssrc,
        ]);
        expect(Array.from({ length: v.csrcCount }, (_, i) => v.csrc(i))).toEqual(parsed.csrcs);
        expect(v.payload).toEqual(parsed.payload);
        expect(serializeRtp(parsed)).toEqual(Buffer.from(bytes));
      }),
      { numRuns: 2000 },
    );
  });
});
