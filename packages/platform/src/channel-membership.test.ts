import * as grpc from '@grpc/grpc-js';
import { describe, expect, it, vi } from 'vitest';
import { ChannelCheckedMembership } from './channel-membership.js';
import { GrpcClientPool, type RunningGrpcServer, startGrpcServer } from './grpc.js';
import { createLogger } from './logging.js';
import type { Member, Membership } from './membership.js';

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()),
};
const pingService: grpc.ServiceDefinition = {
  Ping: {
    path: '/test.Ping/Ping',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};
const PingClient = grpc.makeGenericClientConstructor(pingService, 'Ping');
const logger = createLogger('test', { level: 'silent' });

function serve(port = 0): Promise<RunningGrpcServer> {
  return startGrpcServer({
    host: '127.0.0.1',
    port,
    services: [{ definition: pingService, implementation: { Ping: (_call, cb) => cb(null, {}) } }],
  });
}

/** A heartbeat membership stand-in: members stay until the test says otherwise (as for 3 heartbeats). */
class StaticMembership implements Membership {
  readonly self = undefined;
  private readonly fns: ((service: string) => void)[] = [];
  constructor(private current: Member[]) {}
  async start() {}
  async stop() {}
  members(service: string) {
    return this.current.filter((m) => m.service === service);
  }
  on(_event: 'change', fn: (service: string) => void) {
    this.fns.push(fn);
  }
  set(members: Member[]) {
    this.current = members;
    for (const fn of this.fns) fn('relay');
  }
}

describe('ChannelCheckedMembership', () => {
  it('drops a member as soon as its server dies (before any heartbeat expiry) and takes it back when it returns', async () => {
    const a = await serve();
    const b = await serve();
    const members: Member[] = [a, b].map((s, i) => ({
      id: `r${i}`,
      service: 'relay',
      address: `127.0.0.1:${s.port}`,
      meta: {},
    }));
    const inner = new StaticMembership(members);
    const pool = new GrpcClientPool<grpc.Client>(PingClient);
    const checked = new ChannelCheckedMembership(inner, { relay: pool }, logger);
    const changes: string[] = [];
    checked.on('change', (s) => changes.push(s));
    await checked.start();
    try {
      // Channels are opened for every member without waiting for a request.
      await vi.waitFor(
        () => expect(members.map((m) => checked.channelState('relay', m))).toEqual(['ready', 'ready']),
        {
          timeout: 10_000,
          interval: 20,
        },
      );
      expect(checked.members('relay').map((m) => m.id)).toEqual(['r0', 'r1']);

      // The heartbeat view still lists r0; the channel says it is gone.
      a.server.forceShutdown();
      await vi.waitFor(() => expect(checked.members('relay').map((m) => m.id)).toEqual(['r1']), {
        timeout: 10_000,
        interval: 20,
      });
      expect(inner.members('relay')).toHaveLength(2);
      expect(changes).toContain('relay');

      // Back on the same port: reconnected within the short backoff, a member again.
      const again = await serve(a.port);
      try {
        await vi.waitFor(() => expect(checked.members('relay').map((m) => m.id)).toEqual(['r0', 'r1']), {
          timeout: 10_000,
          interval: 50,
        });
      } finally {
        await again.stop(100);
      }
    } finally {
      await checked.stop();
      pool.close();
      await b.stop(100);
    }
  }, 30_000);

  it('passes services without a pool through unchanged', async () => {
    const m: Member = { id: 'f0', service: 'focus', address: '127.0.0.1:1', meta: {} };
    const checked = new ChannelCheckedMembership(new StaticMembership([m]), {}, logger);
    expect(checked.members('focus')).toEqual([m]);
    expect(checked.channelState('focus', m)).toBeUndefined();
  });
});
