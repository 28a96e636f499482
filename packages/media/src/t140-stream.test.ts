// End-to-end properties of the T.140 text path: sender → lossy network → receiver → line assembly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LINE_SEPARATOR, LineAssembler } from './line-assembler.js';
import { parseRed } from './red.js';
import { parseRtp, type RtpPacket, serializeRtp } from './rtp-packet.js';
import { T140Receiver } from './t140-receiver.js';
import { T140Sender } from './t140-sender.js';

const T140 = 98;
const RED = 100;

/** Sends every packet over the wire format, so the test covers serialize/parse too. */
function wire(p: RtpPacket): RtpPacket {
  return parseRtp(serializeRtp(p));
}

/** Applies a loss pattern that never drops more than `maxRun` packets in a row. */
function dropWithMaxRun(packets: RtpPacket[], lossBits: boolean[], maxRun: number): RtpPacket[] {
  const kept: RtpPacket[] = [];
  let run = 0;
  packets.forEach((p, i) => {
    if (lossBits[i % Math.max(lossBits.length, 1)] && run < maxRun) {
      run += 1;
      return;
    }
    run = 0;
    kept.push(p);
  });
  return kept;
}

const textChunk = fc.string({ unit: 'grapheme', maxLength: 24 });

describe('T.140 with RED, generations = 2', () => {
  it('delivers the exact text for any chunking and any loss of at most 2 consecutive packets', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ chunk: textChunk, drains: fc.integer({ min: 0, max: 3 }) }), {
          minLength: 1,
          maxLength: 15,
        }),
        fc.integer({ min: 4, max: 24 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }),
        fc.integer({ min: 0, max: 0xffff }),
        (steps, maxBlockBytes, lossBits, initialSequence) => {
          const sender = new T140Sender({
            ssrc: 42,
            t140Pt: T140,
            redPt: RED,
            maxBlockBytes,
            initialSequence,
          });
          const packets: RtpPacket[] = [];
          let now = 0;
          for (const { chunk, drains } of steps) {
            now += 100;
            packets.push(...sender.send(chunk, now));
            for (let i = 0; i < drains; i++) {
              now += 300;
              packets.push(...sender.drain(now));
            }
          }
          while (sender.pendingRedundancy > 0) {
            now += 300;
            packets.push(...sender.drain(now));
          }

          const receiver = new T140Receiver({ t140Pt: T140, redPt: RED });
          let out = '';
          let lost = 0;
          for (const p of dropWithMaxRun(packets, lossBits, 2)) {
            const d = receiver.receive(wire(p));
            out += d.text;
            lost += d.lost;
          }
          expect(lost).toBe(0);
          expect(out).toBe(steps.map((s) => s.chunk).join(''));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps emoji and CJK intact when they are split across packets', () => {
    const input = '温度😀センサー🌡️測定値'.repeat(5);
    const sender = new T140Sender({
      ssrc: 1,
      t140Pt: T140,
      redPt: RED,
      maxBlockBytes: 7,
      initialSequence: 0,
    });
    const packets = [...sender.send(input, 0), ...sender.drain(300), ...sender.drain(600)];
    expect(packets.length).toBeGreaterThan(10);
    const receiver = new T140Receiver({ t140Pt: T140, redPt: RED });
    // Lose every third packet: redundancy must restore whole characters.
    const kept = packets.filter((_, i) => i % 3 !== 1);
    expect(kept.map((p) => receiver.receive(wire(p)).text).join('')).toBe(input);
  });

  const lineArb = fc
    .record({
      n: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
      v: fc.integer({ min: -1000, max: 1000 }),
    })
    .map((r) => JSON.stringify([r]).replace(/[\u2028\uFFFD\uFEFF]/g, '?'));

  it('marks a longer loss run with U+FFFD and drops exactly the damaged lines', () => {
    fc.assert(
      fc.property(
        fc.array(lineArb, { minLength: 4, maxLength: 10 }),
        fc.integer({ min: 8, max: 32 }),
        fc.nat(),
        (lines, maxBlockBytes, pick) => {
          const sender = new T140Sender({
            ssrc: 7,
            t140Pt: T140,
            redPt: RED,
            maxBlockBytes,
            initialSequence: 100,
          });
          const packets: RtpPacket[] = [];
          lines.forEach((line, i) => {
            packets.push(...sender.send(line + LINE_SEPARATOR, i * 100));
          });
          packets.push(...sender.drain(5000), ...sender.drain(5300));

          // Character ranges of each packet's primary and of each line (separator included).
          const ranges: [number, number][] = [];
          let at = 0;
          for (const p of packets) {
            const len = Buffer.from(parseRed(p.payload).primary.data).toString('utf8').length;
            ranges.push([at, at + len]);
            at += len;
          }
          const lineRanges: [number, number][] = [];
          at = 0;
          for (const line of lines) {
            lineRanges.push([at, at + line.length + 1]);
            at += line.length + 1;
          }

          // Lose packets k, k+1, k+2 (k ≥ 1, a later packet exists): only k is beyond redundancy.
          const k = 1 + (pick % (packets.length - 4));
          const received = packets.filter((_, i) => i < k || i > k + 2);
          const receiver = new T140Receiver({ t140Pt: T140, redPt: RED });
          const assembler = new LineAssembler();
          let stream = '';
          let lost = 0;
          const out: string[] = [];
          let damaged = 0;
          for (const p of received) {
            const d = receiver.receive(wire(p));
            stream += d.text;
            lost += d.lost;
            const r = assembler.push(d.text);
            out.push(...r.lines);
            damaged += r.damaged;
          }

          expect(lost).toBe(1);
          expect(stream).toContain('\uFFFD');
          const [gapStart, gapEnd] = ranges[k];
          const hit = new Set<number>();
          lineRanges.forEach(([s, e], j) => {
            if (s < gapEnd && gapStart < e) hit.add(j);
            // The separator itself was lost: the next line is merged into the damaged one.
            if (e - 1 >= gapStart && e - 1 < gapEnd && j + 1 < lines.length) hit.add(j + 1);
          });
          expect(hit.size).toBeGreaterThan(0);
          expect(out).toEqual(lines.filter((_, j) => !hit.has(j)));
          expect(damaged).toBeGreaterThanOrEqual(1);
          expect(damaged).toBeLessThanOrEqual(hit.size);
        },
      ),
      { numRuns: 300 },
    );
  });
});
