import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRed } from './red.js';
import type { RtpPacket } from './rtp-packet.js';
import { T140Receiver } from './t140-receiver.js';
import { T140Transmitter } from './t140-transmitter.js';

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const red = (p: RtpPacket) => parseRed(p.payload);

describe('T140Transmitter buffering (RFC 4103 §5)', () => {
  it('sends at once after idle, collects text written within the interval into one packet, then drains redundancy', () => {
    const tx = new T140Transmitter({ ssrc: 5, t140Pt: 98, redPt: 100, bufferMs: 300, initialSequence: 10 });
    tx.write('a');
    expect(tx.nextDueAt()).toBe(Number.NEGATIVE_INFINITY);
    const [first] = tx.poll(1000);
    expect(first).toMatchObject({
      marker: true,
      sequenceNumber: 10,
      timestamp: 1000,
      payloadType: 100,
      csrcs: [],
    });
    expect(text(red(first).primary.data)).toBe('a');
    tx.write('b');
    tx.write('c');
    expect(tx.nextDueAt()).toBe(1300);
    expect(tx.poll(1299)).toEqual([]);
    const [second] = tx.poll(1300);
    expect(second.marker).toBe(false);
    const r = red(second);
    expect(text(r.primary.data)).toBe('bc');
    expect(r.redundant.map((b) => [text(b.data), b.timestampOffset])).toEqual([
      ['', 0],
      ['a', 300],
    ]);
    // Two redundancy-only packets follow at the same interval, then the stream is idle.
    expect(tx.nextDueAt()).toBe(1600);
    const [third] = tx.poll(1600);
    expect(text(red(third).primary.data)).toBe('');
    expect(red(third).redundant.map((b) => text(b.data))).toEqual(['a', 'bc']);
    const [fourth] = tx.poll(1900);
    expect(red(fourth).redundant.map((b) => text(b.data))).toEqual(['bc', '']);
    expect(tx.nextDueAt()).toBeUndefined();
    tx.write('d');
    expect(tx.poll(5000)[0]).toMatchObject({ marker: true, sequenceNumber: 14 });
  });

  it('with bufferMs 0 every write goes out at the next poll', () => {
    const tx = new T140Transmitter({ ssrc: 5, t140Pt: 98, bufferMs: 0, initialSequence: 0 });
    tx.write('x');
    expect(tx.poll(1).map((p) => text(p.payload))).toEqual(['x']);
    tx.write('y');
    expect(tx.poll(1).map((p) => text(p.payload))).toEqual(['y']);
    expect(tx.nextDueAt()).toBeUndefined(); // no RED: nothing owed
  });

  it('splits text above the RED block limit across packets at the same time', () => {
    const tx = new T140Transmitter({ ssrc: 1, t140Pt: 98, redPt: 100, bufferMs: 0 });
    tx.write('é'.repeat(600)); // 1200 bytes
    const packets = tx.poll(0);
    expect(packets.map((p) => red(p).primary.data.length)).toEqual([1022, 178]);
  });

  it('aggregation: the CSRC list given with the text names the contributors', () => {
    const tx = new T140Transmitter({ ssrc: 9, t140Pt: 98, bufferMs: 0 });
    tx.write('pack', 0, [1, 2, 3]);
    expect(tx.poll(0)[0].csrcs).toEqual([1, 2, 3]);
  });
});

describe('T140Transmitter as an RFC 9071 mixer', () => {
  it('one source per packet, CSRC = source, one sequence, redundancy per source across a switch', () => {
    const tx = new T140Transmitter({
      ssrc: 0xaaaa,
      t140Pt: 98,
      redPt: 100,
      bufferMs: 100,
      mixer: true,
      initialSequence: 0,
    });
    tx.write('A1', 1);
    tx.write('B1', 2);
    const p0 = tx.poll(0);
    expect(p0.map((p) => [p.sequenceNumber, p.csrcs, text(red(p).primary.data), p.ssrc])).toEqual([
      [0, [1], 'A1', 0xaaaa],
      [1, [2], 'B1', 0xaaaa],
    ]);
    tx.write('A2', 1);
    const [a2, b] = tx.poll(100);
    // A's packet carries A's earlier text, not B's, though B's packet was sent in between.
    expect(a2.csrcs).toEqual([1]);
    expect(red(a2).redundant.map((x) => text(x.data))).toEqual(['', 'A1']);
    expect(text(red(a2).primary.data)).toBe('A2');
    // B still drains its own redundancy.
    expect(b.csrcs).toEqual([2]);
    expect(red(b).redundant.map((x) => text(x.data))).toEqual(['', 'B1']);
    expect(text(red(b).primary.data)).toBe('');
  });

  it('a single-source stream decodes to the text written, whatever the write/poll pattern', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 30 }), fc.nat({ max: 700 })), { maxLength: 30 }),
        fc.nat({ max: 400 }),
        (writes, bufferMs) => {
          const tx = new T140Transmitter({ ssrc: 3, t140Pt: 98, redPt: 100, bufferMs });
          const rx = new T140Receiver({ t140Pt: 98, redPt: 100 });
          let now = 0;
          let got = '';
          const pump = (until: number) => {
            for (let due = tx.nextDueAt(); due !== undefined && due <= until; due = tx.nextDueAt()) {
              for (const p of tx.poll(Math.max(now, due))) got += rx.receive(p).text;
            }
          };
          for (const [s, gap] of writes) {
            tx.write(s);
            now += gap;
            pump(now);
          }
          pump(Number.MAX_SAFE_INTEGER);
          expect(got).toBe(writes.map(([s]) => s).join(''));
        },
      ),
    );
  });

  it('caps the text queued per source: a write past maxQueuedText is refused whole', () => {
    const tx = new T140Transmitter({ ssrc: 3, t140Pt: 98, bufferMs: 300, maxQueuedText: 10 });
    expect(tx.write('abcdef')).toBe(true);
    expect(tx.poll(0)).toHaveLength(1); // sent at once after idle
    expect(tx.write('0123456789')).toBe(true);
    expect(tx.write('x')).toBe(false);
    expect(tx.queued.text).toBe(10);
  });

  it('a mixer keeps at most maxSources sources: a new source replaces an idle one, or is refused when all are busy', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 1_000 }), fc.boolean()), { maxLength: 200 }), (steps) => {
        const tx = new T140Transmitter({ ssrc: 3, t140Pt: 98, bufferMs: 0, mixer: true, maxSources: 4 });
        let now = 0;
        for (const [source, poll] of steps) {
          tx.write('a', source);
          if (poll) {
            now += 1_000;
            tx.poll(now);
          }
          expect(tx.queued.sources).toBeLessThanOrEqual(4);
        }
      }),
    );
    const tx = new T140Transmitter({ ssrc: 3, t140Pt: 98, bufferMs: 300, mixer: true, maxSources: 2 });
    expect(tx.write('a', 1)).toBe(true);
    expect(tx.write('b', 2)).toBe(true);
    expect(tx.write('c', 3)).toBe(false);
  });
});
