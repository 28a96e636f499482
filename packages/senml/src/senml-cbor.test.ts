import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSenmlCbor, encodeSenmlCbor } from './senml-cbor.js';
import { SenmlError } from './senml-error.js';
import { parseSenmlJson } from './senml-json.js';
import type { SenmlPack, SenmlRecord } from './senml-record.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('SenML CBOR (RFC 8428 §6)', () => {
  it('encodes a small pack to hand-computed bytes', () => {
    const pack: SenmlPack = [{ bn: 'urn:dev:x:', n: 'temp', u: 'Cel', v: 23.5 }];
    expect(encodeSenmlCbor(pack)).toEqual(
      hex(`81 a4
        21 6a 75726e3a6465763a783a
        00 64 74656d70
        01 63 43656c
        02 fb 4037800000000000`),
    );
  });

  it('encodes booleans, data as a byte string, negative integers and times', () => {
    const pack: SenmlPack = [
      { n: 'a', vb: true },
      { n: 'b', vd: 'AQI' },
      { n: 'c', v: -3, t: 10 },
    ];
    const wire = hex('83 a2 00 6161 04 f5   a2 00 6162 08 42 0102   a3 00 6163 02 22 06 0a');
    expect(encodeSenmlCbor(pack)).toEqual(wire);
    expect(decodeSenmlCbor(wire)).toEqual(pack);
  });

  it('decodes half/single floats, base fields and text-labelled extensions', () => {
    // [{bver: 10, bn: "d/", bt: 1e9 (uint32), n: "x", v: 1.5 (half), "ext": "y"}, {n: "z", s: 0.25 (single)}]
    const wire = hex(`82
      a6 20 0a  21 62 642f  22 1a 3b9aca00  00 61 78  02 f9 3e00  63 657874 61 79
      a2 00 61 7a  05 fa 3e800000`);
    expect(decodeSenmlCbor(wire)).toEqual([
      { bver: 10, bn: 'd/', bt: 1e9, n: 'x', v: 1.5, ext: 'y' },
      { n: 'z', s: 0.25 },
    ]);
  });

  it.each([
    ['a map instead of an array', 'a2 00 6161 02 01', /must be a CBOR array/],
    ['an element that is not a map', '81 01', /^record 0: is not a CBOR map/],
    ['an unknown integer label', '81 a3 00 6161 02 01 18 63 01', /^record 0: has unknown CBOR label 99/],
    ['vd as a text string', '81 a2 00 6161 08 63 415149', /^record 0: vd must be a CBOR byte string/],
    ['a NaN value', '81 a2 00 6161 02 f9 7e00', /^record 0: v must be a finite number/],
    ['truncated input', '81 a2 00 61', /^not well-formed CBOR/],
    ['a bad name', '81 a2 00 63 612062 02 01', /^record 0: name "a b" has a character not allowed/],
  ])('rejects %s', (_what, bytes, message) => {
    expect(() => decodeSenmlCbor(hex(bytes))).toThrow(SenmlError);
    expect(() => decodeSenmlCbor(hex(bytes))).toThrow(message);
  });

  it('enforces the size limit', () => {
    const wire = encodeSenmlCbor([{ n: 'a', vs: 'x'.repeat(100) }]);
    expect(() => decodeSenmlCbor(wire, { maxPackBytes: 50 })).toThrow(/exceeds the limit of 50/);
  });

  const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9\-:./_]{0,15}$/);
  const value = fc.oneof(
    fc.record({ v: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
    fc.record({ vs: fc.string({ unit: 'grapheme', maxLength: 20 }) }),
    fc.record({ vb: fc.boolean() }),
    fc.record({ vd: fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b).toString('base64url')) }),
    fc.record({ s: fc.integer() }),
  );
  const recordArb: fc.Arbitrary<SenmlRecord> = fc
    .tuple(
      fc.record(
        {
          bn: name,
          bt: fc.integer({ min: 0, max: 2 ** 31 }),
          bu: fc.constantFrom('Cel', 'V', '%RH'),
          n: name,
          u: fc.constantFrom('A', 'W'),
          t: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
          ut: fc.nat(),
          ext: fc.string({ maxLength: 5 }),
        },
        { requiredKeys: ['n'] },
      ),
      value,
    )
    .map(([base, v]) => {
      const r: SenmlRecord = { ...base, ...v };
      // -0 has no JSON form; keep the property about codecs, not about signed zero.
      for (const k of Object.keys(r)) if (Object.is(r[k], -0)) r[k] = 0;
      return r;
    });

  it('JSON ↔ CBOR round trip preserves every pack', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 8 }), (pack) => {
        const fromJson = parseSenmlJson(JSON.stringify(pack));
        expect(fromJson).toEqual(pack);
        const fromCbor = decodeSenmlCbor(encodeSenmlCbor(fromJson));
        expect(fromCbor).toEqual(pack);
        expect(parseSenmlJson(JSON.stringify(fromCbor))).toEqual(pack);
      }),
      { numRuns: 500 },
    );
  });

  it('decoding arbitrary bytes throws only SenmlError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, asArray) => {
        const input = asArray ? Buffer.concat([hex('81'), bytes]) : bytes;
        try {
          decodeSenmlCbor(input);
        } catch (err) {
          expect(err).toBeInstanceOf(SenmlError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
