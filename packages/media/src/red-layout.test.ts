import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RedPayload, serializeRed } from './red.js';
import {
  RED_BLOCK_OVERRUN,
  RED_NO_PRIMARY_HEADER,
  RED_TRUNCATED_HEADER,
  RedLayout,
  walkRed,
} from './red-layout.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const redArb: fc.Arbitrary<RedPayload> = fc.record({
  redundant: fc.array(
    fc.record({
      payloadType: fc.integer({ min: 0, max: 127 }),
      timestampOffset: fc.integer({ min: 0, max: 16383 }),
      data: fc.uint8Array({ maxLength: 40 }),
    }),
    { maxLength: 5 },
  ),
  primary: fc.record({
    payloadType: fc.integer({ min: 0, max: 127 }),
    data: fc.uint8Array({ maxLength: 40 }),
  }),
});

describe('walkRed (RFC 2198 §3 block headers, read in place)', () => {
  it('finds two generations and the primary of a T.140 RED payload', () => {
    // Inside a larger buffer: the walk stays within [start, end).
    const wire = hex('ffff  e2 096002  e2 04b001  62  6162 63 64  ffff');
    const l = new RedLayout();
    expect(walkRed(wire, 2, wire.length - 2, l)).toBe(0);
    expect(l.count).toBe(2);
    expect([l.payloadTypes[0], l.timestampOffsets[0], l.starts[0], l.ends[0]]).toEqual([98, 600, 11, 13]);
    expect([l.payloadTypes[1], l.timestampOffsets[1], l.starts[1], l.ends[1]]).toEqual([98, 300, 13, 14]);
    expect([l.primaryHeader, l.primaryPayloadType, l.primaryStart, l.primaryEnd]).toEqual([10, 98, 14, 15]);
    expect(l.redundantBytes).toBe(3);
  });

  it('names the fault of a payload that does not parse', () => {
    const l = new RedLayout();
    const walk = (s: string) => {
      const b = hex(s);
      return walkRed(b, 0, b.length, l);
    };
    expect(walk('')).toBe(RED_NO_PRIMARY_HEADER);
    expect(walk('e2 0960')).toBe(RED_TRUNCATED_HEADER);
    expect(walk('e2 000005 62 6162')).toBe(RED_BLOCK_OVERRUN);
  });

  it('reads back exactly what serializeRed wrote, with one layout reused across payloads', () => {
    const l = new RedLayout();
    fc.assert(
      fc.property(redArb, (red) => {
        const wire = serializeRed(red);
        expect(walkRed(wire, 0, wire.length, l)).toBe(0);
        expect(l.count).toBe(red.redundant.length);
        red.redundant.forEach((b, i) => {
          expect(l.payloadTypes[i]).toBe(b.payloadType);
          expect(l.timestampOffsets[i]).toBe(b.timestampOffset);
          expect(wire.subarray(l.starts[i], l.ends[i])).toEqual(Buffer.from(b.data));
        });
        expect(l.primaryPayloadType).toBe(red.primary.payloadType);
        expect(wire.subarray(l.primaryStart, l.primaryEnd)).toEqual(Buffer.from(red.primary.data));
      }),
    );
  });

  it('never reads outside [start, end) of arbitrary bytes, and what it accepts covers them exactly', () => {
    const l = new RedLayout();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), fc.nat(10), fc.nat(10), (bytes, a, b) => {
        const start = Math.min(a, bytes.length);
        const end = Math.max(start, bytes.length - b);
        const verdict = walkRed(bytes, start, end, l);
        if (verdict !== 0) return;
        let at = l.primaryHeader + 1;
        for (let i = 0; i < l.count; i++) {
          expect(l.starts[i]).toBe(at);
          at = l.ends[i];
        }
        expect(l.primaryStart).toBe(at);
        expect(l.primaryEnd).toBe(end);
        expect(l.primaryHeader).toBe(start + 4 * l.count);
      }),
      { numRuns: 2000 },
    );
  });
});
