// Event state (issue 9) against the separate processes with a real nats-server, two relays and two notifier
// replicas: a PUBLISH reaches RTP subscribers on both relays once; a pubsub-data watcher gets the retained
// value first and live records after; the notifier that owns the conference is killed with SIGKILL and
// the event state survives (a refresh with the old tag works on the new owner) and the watcher keeps
// receiving.
import { type SenmlPack, SipPubSubClient } from '@sip-pubsub/client';
import { GrpcClientPool, rendezvousOwner, unary } from '@sip-pubsub/platform';
import { contracts, type MediaRelayClient, type StatsResponse__Output } from '@sip-pubsub/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { RawEventWatcher, RawPublisher, type RawPublishResult } from '../support/raw-events.js';
import { eventually } from './first-light.js';

/** [resolved name, value] of each record of a pack (base names applied). */
function readings(pack: SenmlPack): [string, unknown][] {
  let bn = '';
  return pack.map((r) => {
    if (r.bn !== undefined) bn = r.bn;
    return [bn + (r.n ?? ''), r.v ?? r.vs];
  });
}

async function retry(
  what: string,
  attempt: () => Promise<RawPublishResult>,
  ok: (r: RawPublishResult) => boolean,
  timeoutMs: number,
  logs: () => string,
): Promise<RawPublishResult> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const r = await attempt();
      if (ok(r)) return r;
      last = `${r.status} ${r.reason}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: last ${last}\n${logs().slice(-10_000)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('PUBLISH and pubsub-data over separate processes', () => {
  let broker: RunningBroker;
  const relayClients = new GrpcClientPool<MediaRelayClient>(contracts.MediaRelay);
  beforeAll(async () => {
    broker = await startSeparateProcesses({
      relays: 2,
      notifiers: 2,
      env: { RELAY_SPREAD_LEGS: '1', RELAY_LOAD_INTERVAL_MS: '200' },
    });
  }, 90_000);
  afterAll(async () => {
    relayClients.close();
    await broker?.stop();
  });

  it('delivers PUBLISH to RTP subscribers on both relays once, and event state survives kill -9 of its owner', async () => {
    const server = `127.0.0.1:${broker.sipPort}`;
    const clients: SipPubSubClient[] = [];
    const client = async (user: string) => {
      const c = await SipPubSubClient.connect({ server, user, requestTimeoutMs: 8_000 });
      clients.push(c);
      return c;
    };
    const settle = (ms = 500) => new Promise((r) => setTimeout(r, ms));
    const closers: { close(): void }[] = [];
    try {
      const topic = 'plant-7/publish/temp';
      // A wildcard watcher subscribes before the topic exists.
      const wildcard = await RawEventWatcher.subscribe(broker.sipPort, 'sip:factory@localhost', {
        subject: 'plant-7/#',
      });
      closers.push(wildcard);
      expect(wildcard.status).toBe(200);
      await eventually('first wildcard NOTIFY', () => wildcard.notifies.length >= 1);
      const conferenceUri = await (await client('creator')).resolveTopic(topic);
      const conferenceId = /conf-([a-z0-9]+)@/.exec(conferenceUri)![1];

      // Three RTP subscribers, spread over both relays (one leg per relay before spreading).
      const received: { values: number[]; ssrcs: Set<number> }[] = [];
      for (let i = 0; i < 3; i++) {
        const sub = await (await client(`sub-${i}`)).subscriber(topic);
        const got = { values: [] as number[], ssrcs: new Set<number>() };
        sub.on('pack', (pack: SenmlPack, meta: { ssrc: number }) => {
          got.ssrcs.add(meta.ssrc);
          for (const [n, v] of readings(pack))
            if (typeof v === 'number' && n === 'urn:dev:boiler:temp') got.values.push(v);
        });
        received.push(got);
        await settle();
      }

      const stats = await Promise.all(
        broker
          .services!.filter((s) => s.name === 'media-relay')
          .map((r) =>
            unary<object, StatsResponse__Output>(relayClients.get(`127.0.0.1:${r.grpcPort}`), 'Stats', {}),
          ),
      );
      const subscribersOn = stats.map((st) => st.topics.reduce((n, t) => n + t.subscriberLegs, 0));
      expect(subscribersOn).toHaveLength(2);
      expect(subscribersOn.every((n) => n > 0)).toBe(true);

      const publisher = await RawPublisher.open(broker.sipPort, conferenceUri, 'sensor-1');
      closers.push(publisher);
      const initial = await publisher.publish({
        body: JSON.stringify([{ bn: 'urn:dev:boiler:', n: 'temp', u: 'Cel', v: 21.5 }]),
        expires: 120,
      });
      expect(initial.status).toBe(200);
      expect(initial.expires).toBe('120');
      expect(initial.etag).toMatch(/^[0-9a-f]+$/);
      for (const [i, got] of received.entries())
        await eventually(`PUBLISH at RTP subscriber ${i}`, () => got.values.length >= 1);
      await settle(); // a duplicate would have arrived by now
      for (const got of received) {
        expect(got.values).toEqual([21.5]);
        expect(got.ssrcs.size).toBe(1);
      }
      const publishSsrc = [...received[0].ssrcs][0];
      // One stable SSRC per publisher identity, the same at every subscriber.
      expect(new Set(received.map((g) => [...g.ssrcs][0])).size).toBe(1);

      // The wildcard watcher hears of the topic created after it subscribed, names prefixed with the topic.
      await eventually('PUBLISH at the wildcard watcher', () =>
        wildcard.records().some(([n, v]) => n === `${topic}/urn:dev:boiler:temp` && v === 21.5),
      );

      // A pubsub-data watcher: 200, then a first NOTIFY holding the retained value.
      const watcher = await RawEventWatcher.subscribe(broker.sipPort, conferenceUri, { expires: 600 });
      closers.push(watcher);
      expect(watcher.status).toBe(200);
      await eventually('first pubsub-data NOTIFY', () => watcher.notifies.length >= 1);
      expect(watcher.notifies[0].contentType).toBe('application/senml+json');
      expect(watcher.notifies[0].subscriptionState).toMatch(/^active;expires=\d+/);
      expect(watcher.records()).toEqual([['urn:dev:boiler:temp', 21.5]]);

      // A reading published over RTP is retained too and reaches the watcher.
      const rtpPublisher = await (await client('rtp-pub')).publisher(topic);
      await settle();
      await rtpPublisher.publish([{ bn: 'urn:dev:boiler:', n: 'pressure', u: 'Pa', v: 101 }]);
      await eventually('RTP reading at the pubsub-data watcher', () =>
        watcher.records().some(([n, v]) => n === 'urn:dev:boiler:pressure' && v === 101),
      );
      await eventually('RTP reading at the wildcard watcher', () =>
        wildcard.records().some(([n, v]) => n === `${topic}/urn:dev:boiler:pressure` && v === 101),
      );
      await settle(); // the owner writes it to the retained values

      // A late RTP joiner gets both retained values first, as one pack from the relay's SSRC.
      const late = await (await client('late')).subscriber(topic);
      const latePacks: { pack: SenmlPack; ssrc: number }[] = [];
      late.on('pack', (pack: SenmlPack, meta: { ssrc: number }) => latePacks.push({ pack, ssrc: meta.ssrc }));
      await eventually('retained values at the late joiner', () => latePacks.length >= 1);
      await settle();
      expect(latePacks).toHaveLength(1);
      expect(readings(latePacks[0].pack)).toEqual([
        ['urn:dev:boiler:temp', 21.5],
        ['urn:dev:boiler:pressure', 101],
      ]);
      expect(latePacks[0].ssrc).not.toBe(publishSsrc);
      received.push({ values: [], ssrcs: new Set() });
      late.on('pack', (pack: SenmlPack, meta: { ssrc: number }) => {
        const got = received[received.length - 1];
        got.ssrcs.add(meta.ssrc);
        for (const [n, v] of readings(pack))
          if (typeof v === 'number' && n === 'urn:dev:boiler:temp') got.values.push(v);
      });

      // A modification reaches both kinds of subscriber.
      const modified = await publisher.publish({
        body: JSON.stringify([{ bn: 'urn:dev:boiler:', n: 'temp', u: 'Cel', v: 22 }]),
        ifMatch: initial.etag,
        expires: 120,
      });
      expect(modified.status).toBe(200);
      expect(modified.etag).not.toBe(initial.etag);
      await eventually('modification at the watcher', () =>
        watcher.records().some(([n, v]) => n === 'urn:dev:boiler:temp' && v === 22),
      );
      for (const [i, got] of received.entries())
        await eventually(`modification at RTP subscriber ${i}`, () => got.values.includes(22));
      expect((await publisher.publish({ ifMatch: initial.etag })).status).toBe(412);

      // Kill the notifier replica that owns the conference.
      const notifiers = broker.services!.filter((s) => s.name === 'notifier').map((s) => s.instanceId);
      const owner = rendezvousOwner(conferenceId, notifiers)!;
      await broker.kill!(owner);
      const notifiesBefore = watcher.notifies.length;

      // The survivor refreshes with the tag the dead owner gave out (only KV knows it).
      const refreshed = await retry(
        'refresh with the old tag on the new owner',
        () => publisher.publish({ ifMatch: modified.etag, expires: 120 }),
        (r) => r.status !== 503 && r.status !== 500 && r.status !== 408,
        30_000,
        broker.logs,
      );
      expect(refreshed.status).toBe(200);
      expect(refreshed.etag).toMatch(/^[0-9a-f]+$/);
      expect(refreshed.etag).not.toBe(modified.etag);

      // The watcher's subscription survived too: the new owner re-synchronises it, then live data flows.
      const afterFailover = await publisher.publish({
        body: JSON.stringify([{ bn: 'urn:dev:boiler:', n: 'temp', u: 'Cel', v: 23 }]),
        ifMatch: refreshed.etag,
        expires: 120,
      });
      expect(afterFailover.status).toBe(200);
      await eventually(
        'data at the watcher after failover',
        () =>
          watcher.notifies.length > notifiesBefore &&
          watcher.records().some(([n, v]) => n === 'urn:dev:boiler:temp' && v === 23),
        20_000,
      );
      for (const [i, got] of received.entries())
        await eventually(`PUBLISH after failover at RTP subscriber ${i}`, () => got.values.includes(23));
      await settle();
      for (const got of received.slice(0, 3)) expect(got.values).toEqual([21.5, 22, 23]);
      // The late joiner: live data after its retained pack, once each.
      expect(received[3].values).toEqual([22, 23]);
      expect(publishSsrc).toBeGreaterThan(0);

      // The retained values survived the owner too: a new watcher's first NOTIFY holds them.
      const second = await RawEventWatcher.subscribe(broker.sipPort, conferenceUri, { expires: 600 });
      closers.push(second);
      expect(second.status).toBe(200);
      await eventually('first NOTIFY of a watcher after failover', () => second.notifies.length >= 1);
      expect(new Map(second.records())).toEqual(
        new Map<string, unknown>([
          ['urn:dev:boiler:temp', 23],
          ['urn:dev:boiler:pressure', 101],
        ]),
      );

      // So does a new wildcard watcher's: the retained values of every topic its filter covers.
      const wildcard2 = await RawEventWatcher.subscribe(broker.sipPort, 'sip:factory@localhost', {
        subject: 'plant-7/+/temp',
      });
      closers.push(wildcard2);
      await eventually('first NOTIFY of a late wildcard watcher', () => wildcard2.notifies.length >= 1);
      expect(new Map(wildcard2.records())).toEqual(
        new Map<string, unknown>([
          [`${topic}/urn:dev:boiler:temp`, 23],
          [`${topic}/urn:dev:boiler:pressure`, 101],
        ]),
      );

      // Removal ends the state; its tag names nothing afterwards.
      const removed = await publisher.publish({ ifMatch: afterFailover.etag, expires: 0 });
      expect(removed.status).toBe(200);
      expect(removed.expires).toBe('0');
      expect((await publisher.publish({ ifMatch: afterFailover.etag })).status).toBe(412);
    } finally {
      for (const c of closers) c.close();
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    }
  }, 120_000);
});
