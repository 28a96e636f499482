import fc from 'fast-check';
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
    expect(f.onText(pkt(0xffff), false, false)).toEqual({ forward: [], dropped: 1, overflowed: 0 });
    expect(f.onRedundancy(pkt(0))).toEqual({ forward: [], dropped: 1, overflowed: 0 });
    expect(seqs(f.onText(pkt(1), true, false).forward)).toEqual([0xffff]);
    expect(seqs(f.onRedundancy(pkt(2)).forward)).toEqual([0]);
  });

  it('holds at most maxHeldBytes for an open line (stale-free redundancy flood): drops and counts the rest, no burst on close', () => {
    const f = new TranslateFilter({ maxHeldPackets: 64, maxHeldBytes: 10_000 });
    const big = (seq: number) => {
      const p = new Uint8Array(3_000);
      p.set(pkt(seq));
      return p;
    };
    expect(f.onText(pkt(1), true, true).forward).toEqual([]);
    let overflowed = 0;
    for (let i = 0; i < 1_000; i++) {
      const v = f.onRedundancy(big(2 + i));
      expect(v.forward).toEqual([]);
      overflowed += v.overflowed;
      expect(f.holding.bytes).toBeLessThanOrEqual(10_000);
    }
    expect(overflowed).toBeGreaterThan(990);
    // Closing the line releases nothing: the line lost its start, so the rest of it is dropped too.
    const close = f.onText(pkt(2_000), true, false);
    expect(close.forward).toEqual([]);
    expect(f.holding).toEqual({ packets: 0, bytes: 0 });
    // The next line is judged afresh and renumbered without a gap.
    const next = f.onText(pkt(2_001), true, false);
    expect(next.forward).toHaveLength(1);
  });

  it('holds at most maxHeldPackets for an open line', () => {
    const f = new TranslateFilter({ maxHeldPackets: 8 });
    let overflowed = 0;
    for (let i = 0; i < 100; i++) {
      overflowed += f.onText(pkt(i), true, true).overflowed;
      expect(f.holding.packets).toBeLessThanOrEqual(8);
    }
    expect(overflowed).toBe(100 - (100 % 9));
  });

  it('whatever arrives, what is held stays within both caps and every packet is forwarded, dropped or still held', () => {
    const step = fc.record({
      text: fc.boolean(),
      ok: fc.boolean(),
      open: fc.boolean(),
      size: fc.integer({ min: 4, max: 5_000 }),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
        const f = new TranslateFilter({ maxHeldPackets: 16, maxHeldBytes: 20_000 });
        let out = 0;
        steps.forEach((s, i) => {
          const p = new Uint8Array(s.size);
          p.set(pkt(i & 0xffff));
          const v = s.text ? f.onText(p, s.ok, s.open) : f.onRedundancy(p);
          out += v.forward.length + v.dropped + v.overflowed;
          expect(v.forward.reduce((n, b) => n + b.length, 0)).toBeLessThanOrEqual(20_000 + 5_000);
          expect(f.holding.packets).toBeLessThanOrEqual(16);
          expect(f.holding.bytes).toBeLessThanOrEqual(20_000);
        });
        expect(out + f.holding.packets).toBe(steps.length);
      }),
      { numRuns: 300 },
    );
  });
});
