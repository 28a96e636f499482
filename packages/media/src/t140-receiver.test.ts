import { describe, expect, it } from 'vitest';
import { serializeRed } from './red.js';
import type { RtpPacket } from './rtp-packet.js';
import { T140Receiver } from './t140-receiver.js';
import { T140Sender } from './t140-sender.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));

function rtp(seq: number, payloadType: number, payload: Uint8Array, marker = false, ssrc = 5): RtpPacket {
  return {
    version: 2,
    padding: false,
    extension: null,
    marker,
    payloadType,
    sequenceNumber: seq,
    timestamp: seq * 100,
    ssrc,
    csrcs: [],
    payload,
  };
}

function red(seq: number, blocks: string[], primary: string, marker = false): RtpPacket {
  return rtp(
    seq,
    100,
    serializeRed({
      redundant: blocks.map((b) => ({ payloadType: 98, timestampOffset: 0, data: bytes(b) })),
      primary: { payloadType: 98, data: bytes(primary) },
    }),
    marker,
  );
}

describe('T140Receiver', () => {
  it('isStale: a packet of the current source not newer than the highest seen is stale', () => {
    const r = new T140Receiver({ t140Pt: 98, redPt: 100 });
    expect(r.isStale(red(10, [], 'a', true))).toBe(false);
    r.receive(red(10, [], 'a', true));
    expect(r.isStale(red(10, [], 'x'))).toBe(true);
    expect(r.isStale(red(9, [], 'x'))).toBe(true);
    expect(r.isStale(red(11, [], 'x'))).toBe(false);
    expect(r.isStale(rtp(10, 98, bytes('x'), false, 6))).toBe(false); // another SSRC restarts the stream
  });

  it('recovers up to two lost packets from the redundant generations', () => {
    const r = new T140Receiver({ t140Pt: 98, redPt: 100 });
    expect(r.receive(red(10, ['', ''], 'a', true))).toEqual({ text: 'a', lost: 0, recovered: 0 });
    // 11 and 12 lost; 13 carries them as R2 and R1.
    expect(r.receive(red(13, ['b', 'c'], 'd'))).toEqual({ text: 'bcd', lost: 0, recovered: 2 });
  });

  it('marks an unrecoverable gap with one U+FFFD and counts the lost packets', () => {
    const r = new T140Receiver({ t140Pt: 98, redPt: 100 });
    r.receive(red(10, ['', ''], 'a', true));
    // 11, 12, 13 lost; 14 still holds 12 and 13.
    expect(r.receive(red(14, ['c', 'd'], 'e'))).toEqual({ text: '\uFFFDcde', lost: 1, recovered: 2 });
  });

  it('ignores duplicates and packets older than the highest seen', () => {
    const r = new T140Receiver({ t140Pt: 98, redPt: 100 });
    r.receive(red(10, ['', ''], 'a', true));
    r.receive(red(11, ['', 'a'], 'b'));
    expect(r.receive(red(11, ['', 'a'], 'b')).text).toBe('');
    expect(r.receive(red(9, ['', ''], 'z')).text).toBe('');
    expect(r.receive(red(12, ['a', 'b'], 'c')).text).toBe('c');
  });

  it('follows sequence numbers across the 16-bit wrap', () => {
    const r = new T140Receiver({ t140Pt: 98, redPt: 100 });
    r.receive(red(65535, ['', ''], 'a', true));
    // 0 and 1 lost across the wrap.
    expect(r.receive(red(2, ['b', 'c'], 'd'))).toEqual({ text: 'bcd', lost: 0, recovered: 2 });
  });

  it('yields nothing for redundancy-only packets unless they fill a gap', () => {
    const r = new T140Receiver({ t140Pt: 98, redPt: 100 });
    r.receive(red(1, ['', ''], 'x', true));
    expect(r.receive(red(2, ['', 'x'], ''))).toEqual({ text: '', lost: 0, recovered: 0 });
    // 3 lost: it was the packet carrying "y"; the drain packet 4 recovers it.
    expect(r.receive(red(4, ['x', 'y'], ''))).toEqual({ text: 'y', lost: 0, recovered: 1 });
  });

  it('recovers a lost first packet when the first packet seen has no marker bit', () => {
    const r = new T140Receiver({ t140Pt: 98, redPt: 100 });
    expect(r.receive(red(2, ['', 'a'], 'b'))).toEqual({ text: 'ab', lost: 0, recovered: 1 });
  });

  it('joins UTF-8 characters split across packets by another sender', () => {
    const r = new T140Receiver({ t140Pt: 98 });
    const emoji = Buffer.from('😀中');
    expect(r.receive(rtp(1, 98, emoji.subarray(0, 2), true)).text).toBe('');
    expect(r.receive(rtp(2, 98, emoji.subarray(2, 5))).text).toBe('😀');
    expect(r.receive(rtp(3, 98, emoji.subarray(5))).text).toBe('中');
  });

  it('marks loss in plain T.140 without RED', () => {
    const r = new T140Receiver({ t140Pt: 98 });
    r.receive(rtp(1, 98, bytes('a'), true));
    expect(r.receive(rtp(3, 98, bytes('c')))).toEqual({ text: '\uFFFDc', lost: 1, recovered: 0 });
  });

  it('ignores other payload types and malformed RED', () => {
    const r = new T140Receiver({ t140Pt: 98, redPt: 100 });
    r.receive(red(1, ['', ''], 'a', true));
    expect(r.receive(rtp(2, 0, bytes('zz'))).text).toBe('');
    expect(r.receive(rtp(2, 100, new Uint8Array([0xe2, 0])))).toEqual({ text: '', lost: 0, recovered: 0 });
    expect(r.receive(red(2, ['', 'a'], 'b'))).toEqual({ text: 'b', lost: 0, recovered: 0 });
  });

  it('restarts on a new SSRC', () => {
    const r = new T140Receiver({ t140Pt: 98 });
    r.receive(rtp(500, 98, bytes('a'), true, 1));
    expect(r.receive(rtp(3, 98, bytes('b'), true, 2))).toEqual({ text: 'b', lost: 0, recovered: 0 });
  });

  it('decodes what T140Sender sends, including drain packets', () => {
    const s = new T140Sender({ ssrc: 3, t140Pt: 98, redPt: 100, initialSequence: 1 });
    const r = new T140Receiver({ t140Pt: 98, redPt: 100 });
    const packets = [...s.send('héllo ', 0), ...s.send('wörld', 300), ...s.drain(600), ...s.drain(900)];
    expect(packets.map((p) => r.receive(p).text).join('')).toBe('héllo wörld');
  });
});
