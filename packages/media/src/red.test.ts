import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRed, RedParseError, type RedPayload, RedSerializeError, serializeRed } from './red.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const bytes = (s: string) => new Uint8Array(Buffer.from(s));

describe('RED (RFC 2198 §3)', () => {
  // Two redundant T.140 generations (PT 98): "ab" 600 ms old, "c" 300 ms old, primary "d".
  const wire = hex('e2 096002  e2 04b001  62  6162 63 64');
  const value: RedPayload = {
    redundant: [
      { payloadType: 98, timestampOffset: 600, data: bytes('ab') },
      { payloadType: 98, timestampOffset: 300, data: bytes('c') },
    ],
    primary: { payloadType: 98, data: bytes('d') },
  };

  it('serializes two redundant generations and a primary byte for byte', () => {
    expect(serializeRed(value)).toEqual(wire);
  });

  it('parses the same bytes, with views into the input', () => {
    const red = parseRed(wire);
    expect(
      red.redundant.map((b) => [b.payloadType, b.timestampOffset, Buffer.from(b.data).toString()]),
    ).toEqual([
      [98, 600, 'ab'],
      [98, 300, 'c'],
    ]);
    expect(red.primary.payloadType).toBe(98);
    expect(Buffer.from(red.primary.data).toString()).toBe('d');
    expect(red.primary.data.buffer).toBe(wire.buffer);
  });

  it('handles empty generations and an empty primary', () => {
    const empty = hex('e2 000000 e2 000000 62');
    const red = parseRed(empty);
    expect(red.redundant.map((b) => b.data.length)).toEqual([0, 0]);
    expect(red.primary.data.length).toBe(0);
    expect(serializeRed(red)).toEqual(empty);
  });

  it('rejects a block longer than 1023 bytes and an offset beyond 14 bits', () => {
    const long: RedPayload = {
      redundant: [{ payloadType: 98, timestampOffset: 0, data: new Uint8Array(1024) }],
      primary: { payloadType: 98, data: new Uint8Array(0) },
    };
    expect(() => serializeRed(long)).toThrow(RedSerializeError);
    long.redundant[0].data = new Uint8Array(1023);
    expect(serializeRed(long).length).toBe(4 + 1 + 1023);
    long.redundant[0].timestampOffset = 16384;
    expect(() => serializeRed(long)).toThrow(RedSerializeError);
  });

  it.each([
    ['empty payload', ''],
    ['header list without primary header', 'e2000001'],
    ['truncated block header', 'e20000'],
    ['block length beyond the payload', 'e2000005 62 6162'],
  ])('rejects %s', (_what, bytes) => {
    expect(() => parseRed(hex(bytes))).toThrow(RedParseError);
  });

  const redArb: fc.Arbitrary<RedPayload> = fc.record({
    redundant: fc.array(
      fc.record({
        payloadType: fc.integer({ min: 0, max: 127 }),
        timestampOffset: fc.integer({ min: 0, max: 16383 }),
        data: fc.uint8Array({ maxLength: 1023 }),
      }),
      { maxLength: 4 },
    ),
    primary: fc.record({
      payloadType: fc.integer({ min: 0, max: 127 }),
      data: fc.uint8Array({ maxLength: 200 }),
    }),
  });
  const plain = (r: RedPayload) => ({
    redundant: r.redundant.map((b) => ({ ...b, data: [...b.data] })),
    primary: { ...r.primary, data: [...r.primary.data] },
  });

  it('parse ∘ serialize is the identity', () => {
    fc.assert(
      fc.property(redArb, (red) => {
        const wire = serializeRed(red);
        expect(plain(parseRed(wire))).toEqual(plain(red));
      }),
    );
  });

  it('parsing arbitrary bytes throws only RedParseError and re-serializes exactly', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (input) => {
        try {
          expect([...serializeRed(parseRed(input))]).toEqual([...input]);
        } catch (err) {
          expect(err).toBeInstanceOf(RedParseError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
