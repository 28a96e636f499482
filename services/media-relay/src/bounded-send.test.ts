import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundedSender, type QueueingSocket } from './bounded-send.js';

/** A socket whose kernel takes nothing until drain() is called: every send waits in its queue. */
class StuckSocket implements QueueingSocket {
  queued: Uint8Array[] = [];
  send(data: Uint8Array): void {
    this.queued.push(data);
  }
  getSendQueueSize(): number {
    return this.queued.reduce((n, d) => n + d.length, 0);
  }
  drain(): void {
    this.queued = [];
  }
}

describe('boundedSender (per-leg outgoing queue cap)', () => {
  it('a peer that never drains holds at most the cap; the rest is dropped and counted', () => {
    const socket = new StuckSocket();
    let dropped = 0;
    const send = boundedSender(socket, 10_000, () => dropped++);
    for (let i = 0; i < 1_000; i++) send(new Uint8Array(1_000), '127.0.0.1', 5000);
    expect(socket.getSendQueueSize()).toBeLessThanOrEqual(10_000);
    expect(dropped).toBe(990);
    socket.drain();
    expect(send(new Uint8Array(1_000), '127.0.0.1', 5000)).toBe(true);
  });

  it('whatever the sizes and drains, the queue never exceeds the cap and every datagram is sent or counted', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 3_000 }), fc.constant(-1)), { maxLength: 200 }),
        (steps) => {
          const socket = new StuckSocket();
          let dropped = 0;
          let sent = 0;
          const send = boundedSender(socket, 8_192, () => dropped++);
          let offered = 0;
          for (const size of steps) {
            if (size < 0) {
              socket.drain();
              continue;
            }
            offered++;
            if (send(new Uint8Array(size), '127.0.0.1', 5000)) sent++;
            expect(socket.getSendQueueSize()).toBeLessThanOrEqual(8_192);
          }
          expect(sent + dropped).toBe(offered);
        },
      ),
    );
  });
});
