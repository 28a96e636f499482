// A relay allocation whose gRPC call timed out may still have taken a port on the relay: the focus
// releases that leg id on that relay before trying the next one, so the port is not lost.
import type { GrpcClientPool, Member, Membership } from '@sip-pubsub/platform';
import type { MediaRelayClient } from '@sip-pubsub/proto';
import { describe, expect, it } from 'vitest';
import { GrpcRelayDirectory } from './relays.js';

type Callback = (err: (Error & { code?: number }) | null, res?: unknown) => void;

function relay(id: string, allocate: (cb: Callback) => void, released: string[]) {
  return {
    AllocateLeg: (_req: unknown, _opts: unknown, cb: Callback) => allocate(cb),
    ReleaseLeg: (req: { legId: string }, _opts: unknown, cb: Callback) => {
      released.push(`${id}:${req.legId}`);
      setImmediate(() => cb(null, { released: true }));
    },
  };
}

const failing = (code: number, message: string) => (cb: Callback) =>
  setImmediate(() => cb(Object.assign(new Error(message), { code })));

function directory(clients: Record<string, unknown>, ids: string[]) {
  const members: Member[] = ids.map(
    (id) => ({ id, service: 'media-relay', address: id, meta: {} }) as Member,
  );
  const membership = { members: () => members } as unknown as Membership;
  const pool = { get: (address: string) => clients[address] } as unknown as GrpcClientPool<MediaRelayClient>;
  return new GrpcRelayDirectory(membership, pool, 1_000);
}

describe('GrpcRelayDirectory.allocate after a failed call', () => {
  const spec = { conferenceId: 'conf-1', legId: 'leg-1' };

  it('releases the leg on each relay whose AllocateLeg timed out or was cancelled', async () => {
    const released: string[] = [];
    const relays = directory(
      {
        a: relay('a', failing(4, 'DEADLINE_EXCEEDED'), released),
        b: relay('b', failing(1, 'CANCELLED'), released),
      },
      ['a', 'b'],
    );
    await expect(relays.allocate(spec)).rejects.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(released.sort()).toEqual(['a:leg-1', 'b:leg-1']);
  });

  it('places the leg on the next relay after one that timed out', async () => {
    const released: string[] = [];
    const ok = (cb: Callback) =>
      setImmediate(() => cb(null, { legId: 'leg-1', relayId: 'b', host: '192.0.2.2', port: 4 }));
    const relays = directory(
      { a: relay('a', failing(4, 'DEADLINE_EXCEEDED'), released), b: relay('b', ok, released) },
      ['a', 'b'],
    );
    const placed = await relays.allocate(spec);
    await new Promise((r) => setImmediate(r));
    expect(placed.relayId).toBe('b');
    // Whichever order the ranking tried them in, the relay that timed out got no leg kept.
    expect(released.every((r) => r === 'a:leg-1')).toBe(true);
  });

  it('releases nothing when the relay refused (no free port): it allocated nothing', async () => {
    const released: string[] = [];
    const relays = directory({ a: relay('a', failing(13, 'no free RTP port in 1-2'), released) }, ['a']);
    await expect(relays.allocate(spec)).rejects.toThrow('no free RTP port');
    await new Promise((r) => setImmediate(r));
    expect(released).toEqual([]);
  });
});
