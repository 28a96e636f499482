// Relay failover (DESIGN.md "Failover"): two relay processes and a real nats-server. The relay that hosts
// a topic's legs is killed with SIGKILL; once its heartbeats expire the focus moves every participant to
// the surviving relay with a re-INVITE through the edge, and publications flow again to every subscriber.
import { type SenmlPack, SipPubSubClient } from '@sip-pubsub/client';
import { GrpcClientPool, unary } from '@sip-pubsub/platform';
import { contracts, type MediaRelayClient, type StatsResponse__Output } from '@sip-pubsub/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { eventually } from './first-light.js';

async function eventuallyAsync<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs: number,
  logs: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs().slice(-20_000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('relay failover over two relay processes', () => {
  let broker: RunningBroker;
  const relayClients = new GrpcClientPool<MediaRelayClient>(contracts.MediaRelay);
  beforeAll(async () => {
    // LOG_LEVEL info: the focus's 'relay failover done' line tells when the moves are over.
    broker = await startSeparateProcesses({ relays: 2, env: { LOG_LEVEL: 'info' } });
  }, 60_000);
  afterAll(async () => {
    relayClients.close();
    await broker?.stop();
  });

  it('moves the legs of a killed relay to the survivor; publications before and after reach every subscriber', async () => {
    const server = `127.0.0.1:${broker.sipPort}`;
    const clients: SipPubSubClient[] = [];
    const client = async (user: string) => {
      const c = await SipPubSubClient.connect({ server, user, requestTimeoutMs: 8_000 });
      clients.push(c);
      return c;
    };
    const stats = (grpcPort: number) =>
      unary<object, StatsResponse__Output>(relayClients.get(`127.0.0.1:${grpcPort}`), 'Stats', {}, 2_000);
    const legsOf = (s: StatsResponse__Output) => s.topics.reduce((n, t) => n + t.legs, 0);
    try {
      const topic = 'plant-3/failover/pressure';
      const publisher = await (await client('pub')).publisher(topic);
      const received: number[][] = [];
      for (let i = 0; i < 3; i++) {
        const sub = await (await client(`sub-${i}`)).subscriber(topic);
        const values: number[] = [];
        sub.on('pack', (pack: SenmlPack) => {
          for (const r of pack) if (typeof r.v === 'number') values.push(r.v);
        });
        received.push(values);
      }

      // One topic under the spread threshold: all four legs on the first relay of its ranking.
      const relays = broker.services!.filter((s) => s.name === 'media-relay');
      const before = await Promise.all(relays.map((r) => stats(r.grpcPort)));
      const hosting = before.findIndex((s) => legsOf(s) > 0);
      expect(hosting).toBeGreaterThanOrEqual(0);
      expect(legsOf(before[hosting])).toBe(4);
      const victim = relays[hosting];
      const survivor = relays[1 - hosting];
      expect(legsOf(before[1 - hosting])).toBe(0);

      const early = Array.from({ length: 10 }, (_, i) => i);
      for (const v of early) {
        await publisher.publish([{ n: 'urn:dev:x:pressure', v }]);
        await new Promise((r) => setTimeout(r, 5));
      }
      for (const [i, values] of received.entries())
        await eventually(
          `publications before the failover at subscriber ${i}`,
          () => values.length >= early.length,
        );
      for (const values of received) expect(values).toEqual(early);

      await broker.kill!(victim.instanceId);
      // Heartbeats every 2 s, expiry after 3 missed; then the focus allocates and re-INVITEs.
      await eventuallyAsync(
        'all four legs on the surviving relay',
        async () => legsOf(await stats(survivor.grpcPort)) === 4,
        30_000,
        broker.logs,
      );
      await eventuallyAsync(
        "the focus's failover summary",
        async () =>
          /relay failover done[^\n]*"moved":4|"moved":4[^\n]*relay failover done/.test(broker.logs()),
        30_000,
        broker.logs,
      );
      expect(broker.logs()).not.toMatch(/relay failover removed a participant/);

      const late = Array.from({ length: 10 }, (_, i) => 100 + i);
      for (const v of late) {
        await publisher.publish([{ n: 'urn:dev:x:pressure', v }]);
        await new Promise((r) => setTimeout(r, 5));
      }
      for (const [i, values] of received.entries())
        await eventually(
          `publications after the failover at subscriber ${i}`,
          () => values.length >= early.length + late.length,
        );
      await new Promise((r) => setTimeout(r, 300)); // a duplicate would have arrived by now
      for (const values of received) expect(values).toEqual([...early, ...late]);
    } finally {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    }
  }, 90_000);
});
