import { connect } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Bus } from './bus.js';
import { BusMembership } from './bus-membership.js';
import { InProcessBus } from './in-process-bus.js';
import { createLogger } from './logging.js';
import type { Member } from './membership.js';
import { connectNatsBus } from './nats-bus.js';
import { FakeClock } from './testing/fake-clock.js';
import { type RunningNatsServer, startNatsServer } from './testing/nats-server.js';

const logger = createLogger('test', { level: 'silent' });
const relay = (id: string, port = 7000): Member => ({
  id,
  service: 'media-relay',
  address: `127.0.0.1:${port}`,
  meta: { zone: 'a' },
});
const focus: Member = { id: 'focus-1', service: 'focus-controller', address: '127.0.0.1:7100', meta: {} };
const ids = (ms: Member[]) => ms.map((m) => m.id);

describe('BusMembership on the in-process bus', () => {
  let bus: InProcessBus;
  let clock: FakeClock;
  const running: BusMembership[] = [];
  const make = (self: Member | undefined, watch: string[]) => {
    const m = new BusMembership({ bus, self, watch, intervalMs: 1000, clock, logger });
    running.push(m);
    return m;
  };
  /** Advances time in 100 ms steps, letting bus deliveries run between steps as they would. */
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(Math.min(100, ms - t));
      await bus.flush();
    }
  };

  afterEach(async () => {
    for (const m of running.splice(0)) await m.stop();
    await bus.close();
  });

  it('expires a member that falls silent, but keeps members while its own heartbeats do not come back (bus down)', async () => {
    bus = new InProcessBus({ logger });
    clock = new FakeClock();
    /** The bus as one process sees it: `down` drops what it publishes, as a lost NATS connection would. */
    const link = () => {
      const state = { down: false };
      const view: Bus = {
        publish: (subject, data, headers) => {
          if (!state.down) bus.publish(subject, data, headers);
        },
        subscribe: (subject, handler, opts) =>
          bus.subscribe(subject, (msg) => !state.down && handler(msg), opts),
        flush: () => bus.flush(),
        close: async () => undefined,
      };
      return { state, view };
    };
    const observerLink = link();
    const relayLink = link();
    const observer = new BusMembership({
      bus: observerLink.view,
      self: focus,
      watch: ['media-relay'],
      intervalMs: 1000,
      clock,
      logger,
    });
    const r1 = new BusMembership({
      bus: relayLink.view,
      self: relay('relay-1'),
      watch: [],
      intervalMs: 1000,
      clock,
      logger,
    });
    running.push(observer, r1);
    await observer.start();
    await r1.start();
    await advance(1000);
    expect(ids(observer.members('media-relay'))).toEqual(['relay-1']);

    // The observer's own link is down: it hears nobody, itself included, and keeps what it knew.
    observerLink.state.down = true;
    await advance(6000);
    expect(ids(observer.members('media-relay'))).toEqual(['relay-1']);

    // Back; then the relay (and only it) falls silent: it expires after three missed heartbeats.
    observerLink.state.down = false;
    await advance(2000);
    relayLink.state.down = true;
    await advance(4000);
    expect(observer.members('media-relay')).toEqual([]);
  });

  it('learns members that join, in id order, and includes itself when it watches its own service', async () => {
    bus = new InProcessBus({ logger });
    clock = new FakeClock();
    const observer = make(focus, ['media-relay']);
    const changes: string[] = [];
    observer.on('change', (s) => changes.push(s));
    await observer.start();
    expect(observer.members('media-relay')).toEqual([]);
    const r2 = make(relay('relay-2', 7002), ['media-relay']);
    await r2.start();
    await bus.flush();
    const r1 = make(relay('relay-1', 7001), ['media-relay']);
    await r1.start();
    await bus.flush();
    expect(observer.members('media-relay')).toEqual([relay('relay-1', 7001), relay('relay-2', 7002)]);
    expect(changes).toEqual(['media-relay', 'media-relay']);
    // Each relay sees itself and the other; the focus is not a watched service for them.
    expect(ids(r1.members('media-relay'))).toEqual(['relay-1', 'relay-2']);
    expect(r1.members('focus-controller')).toEqual([]);
    // Steady heartbeats change nothing.
    await advance(5000);
    expect(changes).toHaveLength(2);
  });

  it('lets a late starter learn the cluster at once by probing, without waiting for a heartbeat', async () => {
    bus = new InProcessBus({ logger });
    clock = new FakeClock();
    await make(relay('relay-1'), ['media-relay']).start();
    await make(relay('relay-2'), ['media-relay']).start();
    await bus.flush();
    const late = make(undefined, ['media-relay']);
    await late.start();
    await bus.flush();
    expect(ids(late.members('media-relay'))).toEqual(['relay-1', 'relay-2']);
    expect(late.self).toBeUndefined();
  });

  it('expires a member after 3 missed heartbeats', async () => {
    bus = new InProcessBus({ logger });
    clock = new FakeClock();
    const observer = make(undefined, ['media-relay']);
    const changes: string[] = [];
    observer.on('change', (s) => changes.push(s));
    await observer.start();
    // A member that announced itself once and then died without a word (kill -9).
    bus.publish(
      'pubsub.members.media-relay',
      new TextEncoder().encode(
        '{"type":"announce","member":{"id":"relay-9","service":"media-relay","address":"127.0.0.1:7000","meta":{}},"intervalMs":1000}',
      ),
    );
    await bus.flush();
    expect(observer.members('media-relay')).toEqual([
      { id: 'relay-9', service: 'media-relay', address: '127.0.0.1:7000', meta: {} },
    ]);
    await advance(3000); // heartbeats due at 1000, 2000, 3000 are missed only once 3000 has passed
    expect(ids(observer.members('media-relay'))).toEqual(['relay-9']);
    await advance(1000);
    expect(observer.members('media-relay')).toEqual([]);
    expect(changes).toEqual(['media-relay', 'media-relay']);
  });

  it('keeps a member that keeps announcing', async () => {
    bus = new InProcessBus({ logger });
    clock = new FakeClock();
    const observer = make(undefined, ['media-relay']);
    await observer.start();
    await make(relay('relay-1'), []).start();
    await advance(60_000);
    expect(ids(observer.members('media-relay'))).toEqual(['relay-1']);
  });

  it('drops a member at once when it leaves', async () => {
    bus = new InProcessBus({ logger });
    clock = new FakeClock();
    const observer = make(undefined, ['media-relay']);
    await observer.start();
    const r1 = make(relay('relay-1'), ['media-relay']);
    await r1.start();
    await bus.flush();
    expect(ids(observer.members('media-relay'))).toEqual(['relay-1']);
    const changes: string[] = [];
    observer.on('change', (s) => changes.push(s));
    await r1.stop();
    await bus.flush();
    expect(observer.members('media-relay')).toEqual([]);
    expect(changes).toEqual(['media-relay']);
  });

  it('reports a changed address as a change', async () => {
    bus = new InProcessBus({ logger });
    clock = new FakeClock();
    const observer = make(undefined, ['media-relay']);
    await observer.start();
    const a = new BusMembership({
      bus,
      self: relay('relay-1', 7001),
      watch: [],
      intervalMs: 1000,
      clock,
      logger,
    });
    await a.start();
    await a.stop();
    await bus.flush();
    const changes: string[] = [];
    observer.on('change', (s) => changes.push(s));
    await make(relay('relay-1', 7009), []).start();
    await bus.flush();
    expect(observer.members('media-relay')[0].address).toBe('127.0.0.1:7009');
    expect(changes).toEqual(['media-relay']);
  });

  it('ignores malformed messages on the members subject', async () => {
    bus = new InProcessBus({ logger });
    clock = new FakeClock();
    const observer = make(undefined, ['media-relay']);
    await observer.start();
    bus.publish(
      'pubsub.members.media-relay',
      new TextEncoder().encode('{"type":"announce","member":{"id":""}}'),
    );
    bus.publish('pubsub.members.media-relay', new TextEncoder().encode('not json'));
    await make(relay('relay-1'), []).start();
    await bus.flush();
    expect(ids(observer.members('media-relay'))).toEqual(['relay-1']);
  });
});

describe('BusMembership on nats-server', () => {
  let server: RunningNatsServer;
  const buses: Bus[] = [];
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
  });
  afterAll(async () => {
    for (const b of buses) await b.close();
    await server?.stop();
  });
  const open = async () => {
    const bus = await connectNatsBus(await connect({ servers: server.url }), {
      logger,
      ownsConnection: true,
    });
    buses.push(bus);
    return bus;
  };

  it('joins, learns the others, and sees a leave across processes', async () => {
    const edge = new BusMembership({ bus: await open(), watch: ['focus-controller', 'media-relay'], logger });
    const f1 = new BusMembership({ bus: await open(), self: focus, watch: ['focus-controller'], logger });
    await f1.start();
    await edge.start(); // learns f1 through its probe, well before the 2 s heartbeat
    await vi.waitFor(() => expect(ids(edge.members('focus-controller'))).toEqual(['focus-1']), {
      timeout: 5000,
      interval: 10,
    });
    const r1 = new BusMembership({
      bus: await open(),
      self: relay('relay-1'),
      watch: ['media-relay'],
      logger,
    });
    await r1.start();
    await vi.waitFor(() => expect(ids(edge.members('media-relay'))).toEqual(['relay-1']), {
      timeout: 5000,
      interval: 10,
    });
    expect(edge.members('media-relay')[0]).toEqual(relay('relay-1'));
    await r1.stop();
    await vi.waitFor(() => expect(edge.members('media-relay')).toEqual([]), { timeout: 5000, interval: 10 });
    expect(ids(edge.members('focus-controller'))).toEqual(['focus-1']);
    await f1.stop();
    await edge.stop();
  });
});
