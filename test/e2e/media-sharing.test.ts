// Publications go on `pubsub.media.<conf>` only while another process reads that stream (DESIGN.md
// "Media sharding"): another relay hosting a leg of the conference, or a notifier that retains RTP
// values or has pubsub-data watchers. Separate processes and a real nats-server, counted by a NATS
// subscriber of our own; RETAIN_TTL=0 so no notifier reads by default.
import { type SenmlPack, SipPubSubClient } from '@sip-pubsub/client';
import type { ResolvedRecord } from '@sip-pubsub/senml';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { eventually } from './first-light.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts the messages on `pubsub.media.>`, whoever sent them. */
async function countMedia(natsUrl: string): Promise<{ nc: NatsConnection; count: () => number }> {
  const nc = await connect({ servers: natsUrl.split(',') });
  let n = 0;
  nc.subscribe('pubsub.media.>', { callback: () => n++ });
  await nc.flush();
  return { nc, count: () => n };
}

async function clients(server: string) {
  const all: SipPubSubClient[] = [];
  const client = async (user: string) => {
    const c = await SipPubSubClient.connect({ server, user, requestTimeoutMs: 8_000 });
    all.push(c);
    return c;
  };
  return { client, close: () => Promise.all(all.map((c) => c.close().catch(() => undefined))) };
}

function values(packs: number[]) {
  return (pack: SenmlPack) => {
    for (const r of pack) if (typeof r.v === 'number') packs.push(r.v);
  };
}

describe('a conference on one relay, nobody else reading', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startSeparateProcesses({ relays: 1, env: { RETAIN_TTL: '0' } });
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('delivers with nothing on the bus, until a pubsub-data watcher makes the notifier a reader', async () => {
    const { nc, count } = await countMedia(broker.natsUrl!);
    const { client, close } = await clients(`127.0.0.1:${broker.sipPort}`);
    try {
      const topic = 'plant-3/alone/temp';
      const publisher = await (await client('pub')).publisher(topic);
      const received: number[] = [];
      (await (await client('sub')).subscriber(topic)).on('pack', values(received));
      for (let v = 0; v < 20; v++) {
        await publisher.publish([{ n: 'urn:dev:x:temp', v }]);
        await sleep(5);
      }
      await eventually('every publication at the subscriber', () => received.length >= 20);
      await nc.flush();
      expect(received).toEqual(Array.from({ length: 20 }, (_, v) => v));
      expect(count()).toBe(0);

      // A watcher of the topic's data needs the stream: the notifier says it reads, the relay publishes.
      const watched: number[] = [];
      const watcher = await (await client('watch')).dataWatch(topic);
      watcher.on('notify', (doc: ResolvedRecord[]) => {
        for (const r of doc) if (typeof r.v === 'number') watched.push(r.v);
      });
      for (let v = 100; v < 110; v++) {
        await publisher.publish([{ n: 'urn:dev:x:temp', v }]);
        await sleep(50);
      }
      await eventually('live data at the pubsub-data watcher', () => watched.includes(109));
      expect(count()).toBeGreaterThan(0);
    } finally {
      await close();
      await nc.close();
    }
  }, 60_000);
});

describe('a conference over two relays, nobody else reading', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    // One leg per relay before spreading; relays report their load every 200 ms.
    broker = await startSeparateProcesses({
      relays: 2,
      env: { RETAIN_TTL: '0', RELAY_SPREAD_LEGS: '1', RELAY_LOAD_INTERVAL_MS: '200' },
    });
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('shares each publication with the other relay, which delivers it once, in order', async () => {
    const { nc, count } = await countMedia(broker.natsUrl!);
    const { client, close } = await clients(`127.0.0.1:${broker.sipPort}`);
    try {
      const topic = 'plant-3/pair/temp';
      const publisher = await (await client('pub')).publisher(topic);
      await sleep(500); // a load report in between, so the next legs spread
      const received: number[][] = [];
      for (let i = 0; i < 3; i++) {
        const got: number[] = [];
        (await (await client(`sub-${i}`)).subscriber(topic)).on('pack', values(got));
        received.push(got);
        await sleep(500);
      }
      const sent = Array.from({ length: 30 }, (_, v) => v);
      for (const v of sent) {
        await publisher.publish([{ n: 'urn:dev:x:temp', v }]);
        await sleep(5);
      }
      for (const [i, got] of received.entries())
        await eventually(`all publications at subscriber ${i}`, () => got.length >= sent.length);
      await sleep(300); // a duplicate would have arrived by now
      for (const got of received) expect(got).toEqual(sent);
      // The publisher's relay shared them: the subscribers on the other relay had them from the bus.
      expect(count()).toBeGreaterThanOrEqual(sent.length);
    } finally {
      await close();
      await nc.close();
    }
  }, 60_000);
});
