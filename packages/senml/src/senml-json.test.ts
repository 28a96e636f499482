import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolvePack } from './resolve-pack.js';
import { SenmlError } from './senml-error.js';
import { formatPackLine, parseSenmlJson } from './senml-json.js';
import type { SenmlPack } from './senml-record.js';

const NOW = 1_700_000_000;

describe('RFC 8428 §5.1 style examples parse and resolve', () => {
  it('a single reading with no time is taken at "now"', () => {
    const pack = parseSenmlJson('[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]');
    expect(resolvePack(pack, NOW)).toEqual([{ n: 'urn:dev:ow:10e2073a01080063', u: 'Cel', v: 23.1, t: NOW }]);
  });

  it('a base name is prefixed to every following name', () => {
    const pack = parseSenmlJson(
      '[{"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},{"n":"current","u":"A","v":1.2}]',
    );
    expect(resolvePack(pack, NOW)).toEqual([
      { n: 'urn:dev:ow:10e2073a01080063:voltage', u: 'V', v: 120.1, t: NOW },
      { n: 'urn:dev:ow:10e2073a01080063:current', u: 'A', v: 1.2, t: NOW },
    ]);
  });

  it('base time, base unit and relative offsets give absolute times', () => {
    const pack = parseSenmlJson(
      JSON.stringify([
        {
          bn: 'urn:dev:ow:10e2073a0108006:',
          bt: 1.276020076001e9,
          bu: 'A',
          bver: 5,
          n: 'voltage',
          u: 'V',
          v: 120.1,
        },
        { n: 'current', t: -5, v: 1.2 },
        { n: 'current', t: -4, v: 1.3 },
        { n: 'current', v: 1.7 },
      ]),
    );
    const resolved = resolvePack(pack, NOW);
    expect(resolved.map((r) => [r.n, r.u, r.v])).toEqual([
      ['urn:dev:ow:10e2073a0108006:voltage', 'V', 120.1],
      ['urn:dev:ow:10e2073a0108006:current', 'A', 1.2],
      ['urn:dev:ow:10e2073a0108006:current', 'A', 1.3],
      ['urn:dev:ow:10e2073a0108006:current', 'A', 1.7],
    ]);
    expect(resolved[0].t).toBeCloseTo(1276020076.001, 6);
    expect(resolved[1].t).toBeCloseTo(1276020071.001, 6);
    expect(resolved[2].t).toBeCloseTo(1276020072.001, 6);
    expect(resolved[3].t).toBeCloseTo(1276020076.001, 6);
  });

  it('times below 2**28 are relative to now, negative ones in the past', () => {
    const pack = parseSenmlJson(
      '[{"n":"a","v":1,"t":-10},{"n":"b","v":2,"t":60},{"n":"c","v":3,"t":268435456}]',
    );
    expect(resolvePack(pack, NOW).map((r) => r.t)).toEqual([NOW - 10, NOW + 60, 268435456]);
  });

  it('multiple data types: string, boolean and data values', () => {
    const pack = parseSenmlJson(
      JSON.stringify([
        { bn: 'urn:dev:ow:10e2073a01080063:', n: 'temp', u: 'Cel', v: 23.1 },
        { n: 'label', vs: 'Machine Room' },
        { n: 'open', vb: false },
        { n: 'nfc-reader', vd: 'aGkgCg' },
      ]),
    );
    expect(resolvePack(pack, NOW).map(({ t: _t, ...r }) => r)).toEqual([
      { n: 'urn:dev:ow:10e2073a01080063:temp', u: 'Cel', v: 23.1 },
      { n: 'urn:dev:ow:10e2073a01080063:label', vs: 'Machine Room' },
      { n: 'urn:dev:ow:10e2073a01080063:open', vb: false },
      { n: 'urn:dev:ow:10e2073a01080063:nfc-reader', vd: 'aGkgCg' },
    ]);
  });

  it('base value and base sum adjust values and sums; a sum may stand without a value', () => {
    const pack = parseSenmlJson(
      '[{"bn":"meter/","bv":100,"bs":1000,"n":"level","v":5},{"n":"flow","s":20},{"n":"both","v":-1,"s":1}]',
    );
    expect(resolvePack(pack, NOW).map(({ t: _t, ...r }) => r)).toEqual([
      { n: 'meter/level', v: 105 },
      { n: 'meter/flow', s: 1020 },
      { n: 'meter/both', v: 99, s: 1001 },
    ]);
  });

  it('a record may set a name by itself through bn alone; update time and extensions pass', () => {
    const pack = parseSenmlJson('[{"bn":"dev1","v":1,"ut":30,"vendor":"x"}]');
    expect(resolvePack(pack, NOW)).toEqual([{ n: 'dev1', v: 1, ut: 30, t: NOW }]);
  });
});

describe('validation rules, each with a failing example naming record and rule', () => {
  it.each([
    ['{"n":"a","v":1}', /^a SenML pack must be an array/, undefined, undefined],
    [
      '[{"n":"a","v":1},{"n":"b","v":2},{"n":"a b","v":3}]',
      /^record 2: name "a b" has a character not allowed \(RFC 8428 §4\.5\.1\)$/,
      2,
      'n',
    ],
    [
      '[{"n":"-dash","v":1}]',
      /^record 0: name "-dash" does not start with a letter or digit \(RFC 8428 §4\.5\.1\)$/,
      0,
      'n',
    ],
    ['[{"bn":"ü:","n":"x","v":1}]', /^record 0: name "ü:x" does not start with a letter or digit/, 0, 'n'],
    ['[{"v":1}]', /^record 0: has no name/, 0, 'n'],
    [
      '[{"n":"a","v":1,"vs":"x"}]',
      /^record 0: has more than one value field \(v, vs\) \(RFC 8428 §4\.2\)$/,
      0,
      'vs',
    ],
    ['[{"n":"a"}]', /^record 0: has neither a value .* nor a sum/, 0, 'v'],
    ['[{"n":"a","v":"1"}]', /^record 0: v must be a finite number/, 0, 'v'],
    ['[{"n":5,"v":1}]', /^record 0: n must be a string/, 0, 'n'],
    ['[{"n":"a","vb":1}]', /^record 0: vb must be a boolean/, 0, 'vb'],
    ['[{"n":"a","vd":"a+b/"}]', /^record 0: vd is not base64url/, 0, 'vd'],
    ['[{"n":"a","v":1,"t":"now"}]', /^record 0: t must be a finite number/, 0, 't'],
    ['[{"n":"a","v":1,"bver":1.5}]', /^record 0: bver must be a positive integer/, 0, 'bver'],
    [
      '[{"n":"a","v":1,"bver":11}]',
      /^record 0: bver 11 is newer than version 10 \(RFC 8428 §4\.4\)$/,
      0,
      'bver',
    ],
    [
      '[{"n":"a","v":1},{"n":"b","v":1,"crit_":true}]',
      /^record 1: field "crit_" must be understood .*§4\.4/,
      1,
      'crit_',
    ],
    ['[{"n":"a","v":1},7]', /^record 1: is not an object/, 1, undefined],
    ['[{"n":"a","v":1}', /^not valid JSON/, undefined, undefined],
  ])('%s', (text, message, recordIndex, field) => {
    try {
      parseSenmlJson(text);
    } catch (err) {
      expect(err).toBeInstanceOf(SenmlError);
      const e = err as SenmlError;
      expect(e.message).toMatch(message);
      expect(e.recordIndex).toBe(recordIndex);
      expect(e.field).toBe(field);
      return;
    }
    throw new Error('expected a SenmlError');
  });

  it('enforces the pack size and record count limits', () => {
    const records = JSON.stringify(Array.from({ length: 5 }, (_, i) => ({ n: `s${i}`, v: i })));
    expect(parseSenmlJson(records, { maxRecords: 5 })).toHaveLength(5);
    expect(() => parseSenmlJson(records, { maxRecords: 4 })).toThrow(/5 records, more than the limit of 4/);
    const big = JSON.stringify([{ n: 'a', vs: 'é'.repeat(20) }]);
    expect(() => parseSenmlJson(big, { maxPackBytes: 40 })).toThrow(/exceeds the limit of 40/);
    expect(() => parseSenmlJson('[]'.padEnd(20 * 1024, ' '))).toThrow(SenmlError);
  });

  it('throws only SenmlError for any string or any JSON value', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify([v])),
        ),
        (text) => {
          try {
            parseSenmlJson(text);
          } catch (err) {
            expect(err).toBeInstanceOf(SenmlError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('formatPackLine', () => {
  it('appends U+2028 and escapes framing characters inside strings', () => {
    const pack: SenmlPack = [{ n: 'label', vs: 'a\u2028b\uFFFDc\uFEFF' }];
    const line = formatPackLine(pack);
    expect(line).toBe('[{"n":"label","vs":"a\\u2028b\\ufffdc\\ufeff"}]\u2028');
    expect(line.indexOf('\u2028')).toBe(line.length - 1);
    expect(parseSenmlJson(line.slice(0, -1))).toEqual(pack);
  });
});
