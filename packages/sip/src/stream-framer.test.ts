import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type StreamFrame, StreamFramer } from './stream-framer.js';

const msg = (id: string, body = '') =>
  `NOTIFY sip:w@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bK${id}\r\nFrom: <sip:c@example.com>;tag=1\r\nTo: <sip:w@example.com>;tag=2\r\nCall-ID: ${id}\r\nCSeq: 1 NOTIFY\r\nl: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

const describeFrames = (frames: StreamFrame[]) =>
  frames.map((f) =>
    f.kind === 'message'
      ? `message:${f.data.toString()}`
      : f.kind === 'error'
        ? `error:${f.error.status}`
        : f.kind,
  );

describe('StreamFramer', () => {
  it('yields the same frames however the stream is chunked', () => {
    const stream = Buffer.from(`${msg('a', 'x\r\n\r\ny')}\r\n\r\n${msg('b')}\r\n${msg('c', 'ü')}`);
    const expected = [
      `message:${msg('a', 'x\r\n\r\ny')}`,
      'ping',
      `message:${msg('b')}`,
      'pong',
      `message:${msg('c', 'ü')}`,
    ];
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const framer = new StreamFramer();
        const frames: StreamFrame[] = [];
        let last = 0;
        for (const p of [...points, stream.length]) {
          frames.push(...framer.push(stream.subarray(last, p)));
          last = p;
        }
        expect(describeFrames(frames)).toEqual(expected);
        expect(framer.buffered).toBe(0);
      }),
    );
  });

  it('fails with 513 when a message exceeds the limit, and stays failed', () => {
    const framer = new StreamFramer({ maxMessageSize: 300 });
    const frames = framer.push(Buffer.from(msg('big', 'z'.repeat(400))));
    expect(describeFrames(frames)).toEqual(['error:513']);
    expect(framer.push(Buffer.from(msg('next')))).toEqual([]);
    const headerFlood = new StreamFramer({ maxMessageSize: 100 }).push(
      Buffer.from(`OPTIONS sip:a SIP/2.0\r\nX: ${'y'.repeat(200)}`),
    );
    expect(describeFrames(headerFlood)).toEqual(['error:513']);
  });
});
