import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ntpTimestamp, RtpReceptionStatistics } from './rtp-reception-statistics.js';

describe('RtpReceptionStatistics (RFC 3550 §A.1, §A.3, §A.8)', () => {
  it('counts expected, received and lost across a sequence wrap, with fraction lost per interval', () => {
    const s = new RtpReceptionStatistics(7);
    const seqs = [65533, 65534, 65535, 1, 2]; // 0 is missing
    for (const [i, q] of seqs.entries()) s.onPacket(q, 1000 + i * 100, 5000 + i * 100);
    expect(s.expected).toBe(6);
    expect(s.received).toBe(5);
    expect(s.cumulativeLost).toBe(1);
    expect(s.extendedHighestSequence).toBe(0x10002);
    const first = s.report(6000)!;
    expect(first).toMatchObject({
      ssrc: 7,
      fractionLost: Math.floor(256 / 6),
      cumulativeLost: 1,
      highestSequence: 0x10002,
      jitter: 0,
      lastSr: 0,
      delaySinceLastSr: 0,
    });
    // Next interval: 4 expected (3..6), all received.
    for (const q of [3, 4, 5, 6]) s.onPacket(q, 2000, 6000);
    expect(s.report(7000)!.fractionLost).toBe(0);
  });

  it('duplicates count as received and can make cumulative loss negative', () => {
    const s = new RtpReceptionStatistics(1);
    for (const q of [10, 11, 11, 12, 12]) s.onPacket(q, 0, 0);
    expect(s.cumulativeLost).toBe(-2);
    expect(s.report(0)).toMatchObject({ cumulativeLost: -2, fractionLost: 0 });
  });

  it('a late (reordered) packet does not move the highest sequence number', () => {
    const s = new RtpReceptionStatistics(1);
    for (const q of [100, 102, 101]) s.onPacket(q, 0, 0);
    expect(s.extendedHighestSequence).toBe(102);
    expect(s.cumulativeLost).toBe(0);
  });

  it('a large jump is ignored once and taken as a restart when the next packet follows it (§A.1)', () => {
    const s = new RtpReceptionStatistics(1);
    s.onPacket(100, 0, 0);
    s.onPacket(101, 0, 0);
    s.onPacket(30000, 0, 0);
    expect(s.extendedHighestSequence).toBe(101);
    s.onPacket(30001, 0, 0);
    expect(s.extendedHighestSequence).toBe(30001);
    expect(s.expected).toBe(1);
    expect(s.received).toBe(1);
  });

  it('interarrival jitter follows J += (|D| − J)/16 in timestamp units', () => {
    const s = new RtpReceptionStatistics(1);
    // Sent every 100 ms; arrivals alternate early/late by 20 ms: |D| is 20 then 40, 40, …
    const arrivals = [0, 120, 180, 320, 380];
    for (const [i, a] of arrivals.entries()) s.onPacket(i, i * 100, a);
    // Reference computation in floating point, then scaled the way §A.8 does.
    let j = 0;
    let prev = arrivals[0];
    for (let i = 1; i < arrivals.length; i++) {
      const transit = arrivals[i] - i * 100;
      j += (Math.abs(transit - prev) - j) / 16;
      prev = transit;
    }
    expect(s.jitter).toBe(Math.floor(j));
    expect(s.jitter).toBeGreaterThan(0);
  });

  it('LSR is the middle of the NTP timestamp and DLSR is in 1/65536 s', () => {
    const s = new RtpReceptionStatistics(1);
    s.onPacket(1, 0, 0);
    s.onSenderReport(0x83aa7e80, 0x80000000, 10_000);
    const r = s.report(10_500)!;
    expect(r.lastSr).toBe(0x7e808000);
    expect(r.delaySinceLastSr).toBe(32768);
  });

  it('NTP timestamp of the Unix epoch plus 1.5 s', () => {
    expect(ntpTimestamp(1500)).toEqual({ seconds: 2_208_988_801, fraction: 0x80000000 });
  });

  it('for in-order streams with gaps, expected − received equals the number skipped', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffff }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 300 }),
        (start, steps) => {
          const s = new RtpReceptionStatistics(1);
          let q = start;
          s.onPacket(q, 0, 0);
          let skipped = 0;
          for (const step of steps) {
            q = (q + step) & 0xffff;
            skipped += step - 1;
            s.onPacket(q, 0, 0);
          }
          expect(s.cumulativeLost).toBe(skipped);
          expect(s.extendedHighestSequence & 0xffff).toBe(q);
        },
      ),
    );
  });
});
