import { describe, expect, it } from 'vitest';
import { TranslateFilter } from './translate-filter.js';

const pkt = (seq: number) => Uint8Array.from([0x80, 0x64, seq >> 8, seq & 0xff]);
const seqs = (ps: Uint8Array[]) => ps.map((p) => (p[2] << 8) | p[3]);

describe('TranslateFilter (invalidData drop for translate legs)', () => {
  it('passes packets that end valid lines at once, untouched', () => {
    const f = new TranslateFilter();
    expect(seqs(f.onText(pkt(10), true, false).forward)).toEqual([10]);
    expect(seqs(f.onRedundancy(pkt(11)).forward)).toEqual([11]);
  });

  it('holds the packets of a line until it ends, then releases them together', () => {
    const f = new TranslateFilter();
    expect(f.onText(pkt(1), true, true).forward).toEqual([]);
    expect(f.onRedundancy(pkt(2)).forward).toEqual([]);
    expect(seqs(f.onText(pkt(3), true, false).forward)).toEqual([1, 2, 3]);
  });

  it('drops a group touching an invalid line, and its redundancy, and renumbers what follows without a gap', () => {
    const f = new TranslateFilter();
    f.onText(pkt(0xfffe), true, false);
    expect(f.onText(pkt(0xffff), false, false)).toEqual({ forward: [], dropped: 1 });
    expect(f.onRedundancy(pkt(0))).toEqual({ forward: [], dropped: 1 });
    expect(seqs(f.onText(pkt(1), true, false).forward)).toEqual([0xffff]);
    expect(seqs(f.onRedundancy(pkt(2)).forward)).toEqual([0]);
  });
});
