// Media sharding (DESIGN.md): two relay processes and a real nats-server. With a low spread threshold
// the focus places a topic's legs on both relays of its ranking; a publisher on one relay reaches
// subscribers on both, each publication once and in order.
import { type SenmlPack, SipPubSubClient } from '@sip-pubsub/client';
import { GrpcClientPool, unary } from '@sip-pubsub/platform';
import { contracts, type MediaRelayClient, type StatsResponse__Output } from '@sip-pubsub/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { eventually } from './first-light.js';

describe('media sharding over two relay processes', () => {
  let broker: RunningBroker;
  const relayClients = new GrpcClientPool<MediaRelayClient>(contracts.MediaRelay);
  beforeAll(async () => {
    // One leg per relay before spreading; relays report their load every 200 ms.
    broker = await startSeparateProcesses({
      relays: 2,
      env: { RELAY_SPREAD_LEGS: '1', RELAY_LOAD_INTERVAL_MS: '200' },
    });
  }, 60_000);
  afterAll(async () => {
    relayClients.close();
    await broker?.stop();
  });

  it('delivers every publication once, in order, to subscribers on both relays', async () => {
    const server = `127.0.0.1:${broker.sipPort}`;
    const clients: SipPubSubClient[] = [];
    const client = async (user: string) => {
      const c = await SipPubSubClient.connect({ server, user, requestTimeoutMs: 8_000 });
      clients.push(c);
      return c;
    };
    const settle = () => new Promise((r) => setTimeout(r, 500)); // a load report in between
    try {
      const topic = 'plant-9/sharded/temp';
      const publisher = await (await client('pub')).publisher(topic);
      await settle();
      const received: number[][] = [];
      for (let i = 0; i < 3; i++) {
        const sub = await (await client(`sub-${i}`)).subscriber(topic);
        const values: number[] = [];
        sub.on('pack', (pack: SenmlPack) => {
          for (const r of pack) if (typeof r.v === 'number') values.push(r.v);
        });
        received.push(values);
        await settle();
      }

      const relays = broker.services!.filter((s) => s.name === 'media-relay');
      const stats = await Promise.all(
        relays.map((r) =>
          unary<object, StatsResponse__Output>(relayClients.get(`127.0.0.1:${r.grpcPort}`), 'Stats', {}),
        ),
      );
      const legsOn = stats.map((s) => s.topics.reduce((n, t) => n + t.legs, 0));
      const subscribersOn = stats.map((s) => s.topics.reduce((n, t) => n + t.subscriberLegs, 0));
      expect(legsOn.reduce((a, b) => a + b)).toBe(4);
      expect(subscribersOn.every((n) => n > 0)).toBe(true);
      const publisherRelay = stats.findIndex((s) => s.topics.some((t) => t.publisherLegs > 0));
      expect(publisherRelay).toBeGreaterThanOrEqual(0);

      const sent = Array.from({ length: 40 }, (_, i) => i);
      for (const v of sent) {
        await publisher.publish([{ n: 'urn:dev:x:temp', v }]);
        await new Promise((r) => setTimeout(r, 5));
      }
      for (const [i, values] of received.entries())
        await eventually(`all publications at subscriber ${i}`, () => values.length >= sent.length);
      await new Promise((r) => setTimeout(r, 300)); // a duplicate would have arrived by now
      for (const values of received) expect(values).toEqual(sent);
    } finally {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    }
  }, 60_000);
});
