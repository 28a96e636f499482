import { describe, expect, it } from 'vitest';
import { serializeRtp } from './rtp-packet.js';
import { EMPTY_T140_BLOCK, T140Packetizer } from './t140-packetizer.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('T140Packetizer (RFC 4103 §4, RFC 9071 per-source redundancy)', () => {
  it('numbers one stream across sources while each source repeats only its own text', () => {
    const p = new T140Packetizer({
      ssrc: 0x11223344,
      t140Pt: 98,
      redPt: 100,
      generations: 1,
      initialSequence: 0xffff,
    });
    const a = p.newSource();
    const b = p.newSource();
    const first = p.packetize(a, bytes('x'), 1000, [0xa]);
    const second = p.packetize(b, bytes('y'), 1100, [0xb]);
    const third = p.packetize(a, EMPTY_T140_BLOCK, 1300, [0xa]);
    // Each source's first packet is marked and carries a filler generation; the sequence wraps 0xffff → 0.
    expect(serializeRtp(first)).toEqual(
      Buffer.from('81e4ffff000003e8112233440000000a' + 'e2000000' + '62' + '78', 'hex'),
    );
    expect(serializeRtp(second)).toEqual(
      Buffer.from('81e400000000044c112233440000000b' + 'e2000000' + '62' + '79', 'hex'),
    );
    // Source a's redundancy-only packet repeats "x" 300 ms back, not b's "y"; no marker.
    expect(serializeRtp(third)).toEqual(
      Buffer.from('8164000100000514112233440000000a' + 'e204b001' + '62' + '78', 'hex'),
    );
  });

  it('sends plain T.140 without a RED payload type and cuts blocks between characters', () => {
    const p = new T140Packetizer({ ssrc: 1, t140Pt: 98, initialSequence: 5, maxBlockBytes: 4 });
    expect(p.generations).toBe(0);
    const blocks = p.blocks('aéé');
    expect(blocks.map((b) => Buffer.from(b).toString('hex'))).toEqual(['61c3a9', 'c3a9']);
    const source = p.newSource();
    expect(serializeRtp(p.packetize(source, blocks[0], 7, []))).toEqual(
      Buffer.from('80e20005000000070000000161c3a9', 'hex'),
    );
    expect(p.packetize(source, blocks[1], 7, []).marker).toBe(false);
  });

  it('rejects blocks RED cannot describe and negative generations', () => {
    expect(() => new T140Packetizer({ ssrc: 1, t140Pt: 98, redPt: 100, maxBlockBytes: 1024 })).toThrow(
      /exceeds the RED block limit 1023/,
    );
    expect(() => new T140Packetizer({ ssrc: 1, t140Pt: 98, redPt: 100, generations: -1 })).toThrow(
      /generations -1/,
    );
    expect(() => new T140Packetizer({ ssrc: 1, t140Pt: 98, maxBlockBytes: 3 })).toThrow(/below 4/);
  });
});
