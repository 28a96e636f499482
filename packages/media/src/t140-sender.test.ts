import { describe, expect, it } from 'vitest';
import { parseRed } from './red.js';
import { serializeRtp } from './rtp-packet.js';
import { T140Sender } from './t140-sender.js';

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

describe('T140Sender (RFC 4103 §4)', () => {
  it('sends primary plus two redundant generations, byte-exact on the wire', () => {
    const s = new T140Sender({
      ssrc: 0x11223344,
      t140Pt: 98,
      redPt: 100,
      initialSequence: 7,
      initialTimestamp: 1000,
    });
    const [first] = s.send('ab', 50_000);
    // First packet: marker set, both generations empty.
    expect(serializeRtp(first)).toEqual(
      Buffer.from('80e40007000003e811223344' + 'e2000000' + 'e2000000' + '62' + '6162', 'hex'),
    );
    const [second] = s.send('c', 50_300);
    // R2 empty (offset 0: nothing was sent before), R1 = "ab" 300 ms old, primary "c"; no marker.
    expect(serializeRtp(second)).toEqual(
      Buffer.from('806400080000051411223344' + 'e2000000' + 'e204b002' + '62' + '616263', 'hex'),
    );
  });

  it('drains with redundancy-only packets, then marks the next burst', () => {
    const s = new T140Sender({ ssrc: 1, t140Pt: 98, redPt: 100, initialSequence: 0 });
    const [p0] = s.send('hi', 0);
    expect(p0.marker).toBe(true);
    expect(s.pendingRedundancy).toBe(2);

    const [d1] = s.drain(300);
    let red = parseRed(d1.payload);
    expect(red.primary.data.length).toBe(0);
    expect(red.redundant.map((b) => text(b.data))).toEqual(['', 'hi']);
    expect(red.redundant[1].timestampOffset).toBe(300);
    expect(d1.marker).toBe(false);
    expect(s.pendingRedundancy).toBe(1);

    const [d2] = s.drain(600);
    red = parseRed(d2.payload);
    expect(red.primary.data.length).toBe(0);
    expect(red.redundant.map((b) => text(b.data))).toEqual(['hi', '']);
    expect(red.redundant[0].timestampOffset).toBe(600);
    expect(s.pendingRedundancy).toBe(0);
    expect(s.drain(900)).toEqual([]);

    const [next] = s.send('x', 5000);
    expect(next.marker).toBe(true);
    expect(next.sequenceNumber).toBe(3);
    expect(parseRed(next.payload).redundant.map((b) => text(b.data))).toEqual(['', '']);
  });

  it('does not set the marker while text keeps flowing', () => {
    const s = new T140Sender({ ssrc: 1, t140Pt: 98, redPt: 100, initialSequence: 0 });
    expect(s.send('a', 0)[0].marker).toBe(true);
    expect(s.drain(300)[0].marker).toBe(false);
    expect(s.send('b', 400)[0].marker).toBe(false);
    expect(s.pendingRedundancy).toBe(2);
  });

  it('splits long text into blocks of at most maxBlockBytes on character boundaries', () => {
    const s = new T140Sender({ ssrc: 1, t140Pt: 98, redPt: 100, initialSequence: 65534, maxBlockBytes: 5 });
    const input = 'a😀中b😀';
    const packets = s.send(input, 0);
    const primaries = packets.map((p) => parseRed(p.payload).primary.data);
    expect(primaries.every((b) => b.length <= 5 && b.length > 0)).toBe(true);
    expect(primaries.every((b) => (b[0] & 0xc0) !== 0x80)).toBe(true);
    expect(primaries.map(text).join('')).toBe(input);
    expect(packets.map((p) => p.sequenceNumber)).toEqual([65534, 65535, 0, 1].slice(0, packets.length));
    expect(packets.map((p) => p.marker)).toEqual(packets.map((_, i) => i === 0));
  });

  it('refuses blocks larger than RED can carry', () => {
    expect(() => new T140Sender({ ssrc: 1, t140Pt: 98, redPt: 100, maxBlockBytes: 1024 })).toThrow(
      RangeError,
    );
    const s = new T140Sender({ ssrc: 1, t140Pt: 98, redPt: 100 });
    const packets = s.send('x'.repeat(2500), 0);
    expect(packets.map((p) => parseRed(p.payload).primary.data.length)).toEqual([1023, 1023, 454]);
  });

  it('sends plain T.140 without RED', () => {
    const s = new T140Sender({ ssrc: 9, t140Pt: 98, initialSequence: 10 });
    const [p] = s.send('abc', 1234);
    expect(p.payloadType).toBe(98);
    expect(text(p.payload)).toBe('abc');
    expect(p.timestamp).toBe(1234);
    expect(s.pendingRedundancy).toBe(0);
    expect(s.drain(1500)).toEqual([]);
    expect(s.send('d', 2000)[0].marker).toBe(true);
  });

  it('clamps a timestamp offset the 14-bit field cannot hold but keeps the text', () => {
    const s = new T140Sender({ ssrc: 1, t140Pt: 98, redPt: 100, initialSequence: 0 });
    s.send('old', 0);
    const [late] = s.send('new', 60_000);
    const red = parseRed(late.payload);
    expect(text(red.redundant[1].data)).toBe('old');
    expect(red.redundant[1].timestampOffset).toBe(16383);
  });
});
