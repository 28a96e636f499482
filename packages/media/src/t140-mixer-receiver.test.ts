import { describe, expect, it } from 'vitest';
import { T140MixerReceiver } from './t140-mixer-receiver.js';
import { T140Transmitter } from './t140-transmitter.js';

describe('T140MixerReceiver (RFC 9071)', () => {
  const stream = () => {
    const tx = new T140Transmitter({
      ssrc: 0x99,
      t140Pt: 98,
      redPt: 100,
      bufferMs: 100,
      mixer: true,
      initialSequence: 65534,
    });
    const packets = [];
    tx.write('a1', 1);
    tx.write('b1', 2);
    packets.push(...tx.poll(0));
    tx.write('a2', 1);
    packets.push(...tx.poll(100));
    tx.write('b2', 2);
    for (let t = 200; t <= 600; t += 100) packets.push(...tx.poll(t));
    return packets;
  };
  const run = (drop: Set<number>) => {
    const rx = new T140MixerReceiver({ t140Pt: 98, redPt: 100 });
    const by = new Map<number, string>();
    const packets = stream();
    packets.forEach((p, i) => {
      if (drop.has(i)) return;
      const d = rx.receive(p);
      if (d) by.set(d.source, (by.get(d.source) ?? '') + d.text);
    });
    return { by, packets };
  };

  it('separates the sources of one stream by CSRC, across a sequence wrap', () => {
    const { by, packets } = run(new Set());
    expect(packets.every((p) => p.ssrc === 0x99 && p.csrcs.length === 1)).toBe(true);
    expect(by.get(1)).toBe('a1a2');
    expect(by.get(2)).toBe('b1b2');
  });

  it('recovers a lost packet of one source from that source’s next packet, not the next packet of the stream', () => {
    // Packet 2 is a2; packet 3 is B's redundancy-only packet; A's next packet (redundancy) holds a2.
    const { by, packets } = run(new Set([2]));
    expect(packets[3].csrcs).toEqual([2]);
    expect(by.get(1)).toBe('a1a2');
    expect(by.get(2)).toBe('b1b2');
  });
});
