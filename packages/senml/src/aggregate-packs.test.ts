import { describe, expect, it } from 'vitest';
import { aggregatePacks } from './aggregate-packs.js';
import { parseSenmlJson } from './senml-json.js';

describe('aggregatePacks', () => {
  it('merges resolved records of several sources into one time-ordered pack of absolute records', () => {
    const now = 1_700_000_000;
    const boiler = parseSenmlJson(
      '[{"bn":"boiler/","bt":1700000005,"bu":"Cel","n":"temp","v":80},{"n":"temp","t":-4,"v":79}]',
    );
    const pump = parseSenmlJson('[{"bn":"pump/","n":"on","vb":true,"t":-2},{"n":"rpm","v":1200}]');
    const pack = aggregatePacks(
      [
        { source: 'sip:boiler@example.com', pack: boiler },
        { source: 'sip:pump@example.com', pack: pump },
      ],
      now,
    );
    expect(pack).toEqual([
      { n: 'pump/on', vb: true, t: now - 2 },
      { n: 'pump/rpm', v: 1200, t: now },
      { n: 'boiler/temp', u: 'Cel', v: 79, t: 1700000001 },
      { n: 'boiler/temp', u: 'Cel', v: 80, t: 1700000005 },
    ]);
    // The result is itself a valid pack, with no base fields left.
    expect(parseSenmlJson(JSON.stringify(pack))).toEqual(pack);
    expect(pack.some((r) => Object.keys(r).some((k) => k.startsWith('b')))).toBe(false);
  });

  it('keeps arrival order for equal times', () => {
    const a = parseSenmlJson('[{"n":"a","v":1}]');
    const b = parseSenmlJson('[{"n":"b","v":2}]');
    expect(
      aggregatePacks(
        [
          { source: 'x', pack: a },
          { source: 'y', pack: b },
        ],
        5,
      ).map((r) => r.n),
    ).toEqual(['a', 'b']);
    expect(
      aggregatePacks(
        [
          { source: 'y', pack: b },
          { source: 'x', pack: a },
        ],
        5,
      ).map((r) => r.n),
    ).toEqual(['b', 'a']);
  });
});
