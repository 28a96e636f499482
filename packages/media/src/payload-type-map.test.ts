import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { remapT140PayloadTypes } from './payload-type-map.js';
import { parseRed } from './red.js';
import { parseRtp, serializeRtp } from './rtp-packet.js';
import { T140Sender } from './t140-sender.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('remapT140PayloadTypes', () => {
  // RTP header (V=2, M=1, PT=100, seq 1, ts 1000, SSRC 0x11223344), RED with one redundant block
  // (PT 98, offset 300, length 2 "ab") and a primary (PT 98) "cd".
  const red = Buffer.from('80e40001000003e811223344' + 'e204b002' + '62' + '6162' + '6364', 'hex');

  it('rewrites the RTP and every RED block header, nothing else (byte vector)', () => {
    const out = remapT140PayloadTypes(red, { t140Pt: 98, redPt: 100 }, { t140Pt: 96, redPt: 97 })!;
    expect(hex(out)).toBe('80e10001000003e811223344' + 'e004b002' + '60' + '6162' + '6364');
    expect(hex(red)).toContain('80e40001'); // the input is left alone
  });

  it('returns the same buffer when both legs use the same numbers', () => {
    expect(remapT140PayloadTypes(red, { t140Pt: 98, redPt: 100 }, { t140Pt: 98, redPt: 100 })).toBe(red);
  });

  it('turns RED into plain T.140 with the primary for a leg without RED', () => {
    const out = remapT140PayloadTypes(red, { t140Pt: 98, redPt: 100 }, { t140Pt: 96 })!;
    expect(hex(out)).toBe('80e00001000003e811223344' + '6364');
  });

  it('rewrites a plain T.140 packet and drops packets of other types', () => {
    const plain = Buffer.from('8062000100000001aabbccdd41', 'hex');
    expect(hex(remapT140PayloadTypes(plain, { t140Pt: 98 }, { t140Pt: 96, redPt: 97 })!)).toBe(
      '8060000100000001aabbccdd41',
    );
    expect(remapT140PayloadTypes(plain, { t140Pt: 99, redPt: 100 }, { t140Pt: 96 })).toBeUndefined();
  });

  it('keeps text, sequence, timestamp and SSRC for any text the sender makes (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 6 }),
        (chunks) => {
          const sender = new T140Sender({ ssrc: 7, t140Pt: 98, redPt: 100 });
          chunks.forEach((text, i) => {
            for (const p of sender.send(text, 1000 + i * 100)) {
              const bytes = serializeRtp(p);
              const out = parseRtp(
                remapT140PayloadTypes(bytes, { t140Pt: 98, redPt: 100 }, { t140Pt: 111, redPt: 112 })!,
              );
              expect(out).toMatchObject({
                payloadType: 112,
                sequenceNumber: p.sequenceNumber,
                timestamp: p.timestamp,
                ssrc: 7,
              });
              const before = parseRed(p.payload);
              const after = parseRed(out.payload);
              expect(after.primary.payloadType).toBe(111);
              expect(Buffer.from(after.primary.data).equals(Buffer.from(before.primary.data))).toBe(true);
              expect(
                after.redundant.map((b) => [
                  b.payloadType,
                  b.timestampOffset,
                  Buffer.from(b.data).toString(),
                ]),
              ).toEqual(
                before.redundant.map((b) => [111, b.timestampOffset, Buffer.from(b.data).toString()]),
              );
            }
          });
        },
      ),
    );
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        remapT140PayloadTypes(bytes, { t140Pt: 98, redPt: 100 }, { t140Pt: 96 });
        remapT140PayloadTypes(bytes, { t140Pt: 98, redPt: 100 }, { t140Pt: 96, redPt: 97 });
      }),
    );
  });
});
