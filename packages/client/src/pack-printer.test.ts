import { describe, expect, it } from 'vitest';
import {
  describeRecord,
  formatPackHuman,
  formatPackJson,
  formatPublished,
  formatTime,
} from './pack-printer.js';

describe('pack printer', () => {
  const now = 1_800_000_000; // 2027-01-15T08:00:00Z

  it('prints one human line per record with base fields resolved (RFC 8428 §4.6)', () => {
    const pack = [
      { bn: 'urn:dev:ow:10e2073a01080063:', bt: 1_320_067_464, bu: 'Cel', n: 'temp', v: 23.1 },
      { n: 'door', vb: false, t: 1 },
      { n: 'label', vs: 'boiler "A"', u: '' },
    ];
    expect(formatPackHuman(pack, now)).toEqual([
      'urn:dev:ow:10e2073a01080063:temp = 23.1 Cel  (t=2011-10-31T13:24:24.000Z)',
      'urn:dev:ow:10e2073a01080063:door = false Cel  (t=2011-10-31T13:24:25.000Z)',
      'urn:dev:ow:10e2073a01080063:label = "boiler \\"A\\""  (t=2011-10-31T13:24:24.000Z)',
    ]);
  });

  it('uses the reception time for records without t, and shows sums', () => {
    expect(formatPackHuman([{ n: 'temp', v: 21.5, u: 'Cel' }], now)).toEqual([
      'temp = 21.5 Cel  (t=2027-01-15T08:00:00.000Z)',
    ]);
    expect(describeRecord({ n: 'energy', t: now, s: 1200, u: 'J' })).toBe('energy = sum 1200 J');
  });

  it('prints one JSON line per pack, as received', () => {
    expect(formatPackJson([{ n: 'temp', v: 21.5, u: 'Cel' }])).toBe('[{"n":"temp","v":21.5,"u":"Cel"}]');
  });

  it('confirms a publication in one short line', () => {
    expect(formatPublished('plant-7/boiler/temp', [{ n: 'temp', v: 21.5, u: 'Cel' }], now)).toBe(
      'published to plant-7/boiler/temp: temp = 21.5 Cel',
    );
    const many = [1, 2, 3, 4].map((i) => ({ n: `s${i}`, v: i }));
    expect(formatPublished('t', many, now)).toBe('published to t: s1 = 1, s2 = 2, s3 = 3, … (4 records)');
  });

  it('shows times beyond the Date range as seconds', () => {
    expect(formatTime(1e300)).toBe('1e+300');
  });
});
