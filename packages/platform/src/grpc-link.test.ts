import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { GrpcClientPool, type RunningGrpcServer, startGrpcServer } from './grpc.js';
import { type CallLink, EdgeLinks, type LinkIncomingCall, type LinkMethod, OwnerLinks } from './grpc-link.js';
import { createLogger } from './logging.js';

// JSON on the wire (frames and payloads), so the test needs no .proto; Buffers survive as {type, data}.
const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()),
};
const method: LinkMethod = {
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
};
const linkService: grpc.ServiceDefinition = {
  Link: {
    path: '/test.Owner/Link',
    requestStream: true,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};
const OwnerClient = grpc.makeGenericClientConstructor(linkService, 'Owner');
const logger = createLogger({ service: 'grpc-link-test', level: 'silent' });

interface Handle {
  text: string;
  delayMs?: number;
  /** The owner calls the edge's Ping before answering. */
  pingBack?: boolean;
  /** The owner reserves a Ping whose request travels in its answer. */
  followUp?: boolean;
}

const running: { stop(): unknown }[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
});

/** An owner serving Handle on links, and an edge with links to it (the edge serves Ping). */
async function pair(opts: { maxPending?: number; port?: number } = {}) {
  const followUps: Promise<unknown>[] = [];
  const owner: EdgeLinks = new EdgeLinks({
    calls: { Ping: method },
    serves: {
      Handle: {
        method,
        handle: (async (req: Handle, call: LinkIncomingCall) => {
          if (req.delayMs) await new Promise((r) => setTimeout(r, req.delayMs));
          const back = req.pingBack
            ? await owner.get('edge-1')!.call<{ pong: string }>('Ping', { ping: req.text }, 2_000)
            : undefined;
          if (req.followUp) {
            const reserved = call.link.reserve<{ pong: string }>('Ping', 2_000);
            followUps.push(reserved.result);
            return { text: req.text, followUpId: reserved.id };
          }
          return { text: req.text, pong: back?.pong };
        }) as never,
      },
    },
    maxPending: opts.maxPending,
    logger,
  });
  // gRPC messages the owner received on its links (each carries one or more frames).
  const received = { messages: 0 };
  const server: RunningGrpcServer = await startGrpcServer({
    host: '127.0.0.1',
    port: opts.port ?? 0,
    services: [
      {
        definition: linkService,
        implementation: {
          Link: ((call: grpc.ServerDuplexStream<unknown, unknown>) => {
            call.on('data', () => received.messages++);
            owner.handler(call as never);
          }) as grpc.handleBidiStreamingCall<unknown, unknown>,
        },
      },
    ],
  });
  const pool = new GrpcClientPool(OwnerClient);
  const edge = new OwnerLinks('edge-1', {
    calls: { Handle: method },
    serves: {
      Ping: { method, handle: (async (req: { ping: string }) => ({ pong: `${req.ping}!` })) as never },
    },
    maxPending: opts.maxPending,
    logger,
  });
  const address = `127.0.0.1:${server.port}`;
  const link = (): CallLink => edge.get(address, pool.get(address));
  const stopAll = {
    stop: async () => {
      edge.close();
      owner.close();
      pool.close();
      await server.stop(100);
    },
  };
  running.push(stopAll);
  return { owner, edge, server, pool, address, link, followUps, received };
}

describe('CallLink over a gRPC stream', () => {
  it('answers many concurrent calls each with its own answer, and calls back the other way on the same link', async () => {
    const p = await pair();
    const link = p.link();
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        link.call<{ text: string; pong?: string }>(
          'Handle',
          { text: `r${i}`, delayMs: (i * 7) % 20, pingBack: i % 2 === 0 },
          2_000,
        ),
      ),
    );
    answers.forEach((a, i) => {
      expect(a.text).toBe(`r${i}`);
      expect(a.pong).toBe(i % 2 === 0 ? `r${i}!` : undefined);
    });
    // One stream carried them all.
    expect(p.link()).toBe(link);
  });

  it('sends the calls made in one turn in one message: a link is not held to one frame per socket write', async () => {
    const p = await pair();
    const link = p.link();
    await link.call('Handle', { text: 'warm' }, 2_000);
    const before = p.received.messages;
    // grpc-js writes a stream's messages one at a time, each after the previous one's socket write: with a
    // frame per message, calls made faster than that queue behind each other until past their deadlines.
    const answers = await Promise.all(
      Array.from({ length: 500 }, (_, i) => link.call<{ text: string }>('Handle', { text: `b${i}` }, 5_000)),
    );
    expect(answers.map((a) => a.text)).toEqual(answers.map((_, i) => `b${i}`));
    expect(p.received.messages - before).toBe(1);
  });

  it('keeps each call to its own deadline: a slow one fails DEADLINE_EXCEEDED, the link goes on', async () => {
    const p = await pair();
    const link = p.link();
    const slow = link.call('Handle', { text: 'slow', delayMs: 500 }, 50);
    const quick = link.call<{ text: string }>('Handle', { text: 'quick' }, 2_000);
    await expect(slow).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    expect((await quick).text).toBe('quick');
    expect(link.closed).toBe(false);
  });

  it('fails calls in flight with UNAVAILABLE when the owner dies, and opens a new link once it is back', async () => {
    const p = await pair();
    const link = p.link();
    await link.call('Handle', { text: 'warm' }, 2_000);
    const inFlight = link.call('Handle', { text: 'lost', delayMs: 1_000 }, 5_000);
    await new Promise((r) => setTimeout(r, 50));
    p.server.server.forceShutdown();
    await expect(inFlight).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(link.closed).toBe(true);
    // The replica restarts on the same address: the next use opens a fresh link over a renewed channel.
    const again = await pair({ port: p.server.port });
    p.pool.renew(p.address);
    const fresh = p.edge.get(p.address, p.pool.get(p.address));
    expect(fresh).not.toBe(link);
    expect(await fresh.call<{ text: string }>('Handle', { text: 'back' }, 5_000)).toMatchObject({
      text: 'back',
    });
    expect(again.server.port).toBe(p.server.port);
  });

  it('bounds the calls in flight: one past maxPending is refused RESOURCE_EXHAUSTED at once', async () => {
    const p = await pair({ maxPending: 2 });
    const link = p.link();
    const held = [1, 2].map((i) => link.call('Handle', { text: `h${i}`, delayMs: 200 }, 2_000));
    await expect(link.call('Handle', { text: 'over' }, 2_000)).rejects.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
    });
    await Promise.all(held);
    expect(await link.call<{ text: string }>('Handle', { text: 'after' }, 2_000)).toMatchObject({
      text: 'after',
    });
  });

  it('answers a reserved call whose request travelled inside an answer (a follow-up)', async () => {
    const p = await pair();
    const link = p.link();
    const res = await link.call<{ text: string; followUpId: number }>(
      'Handle',
      { text: 'f', followUp: true },
      2_000,
    );
    expect(res.followUpId).toBeGreaterThan(0);
    link.serveDetached('Ping', res.followUpId, { ping: 'carried' }, 0);
    expect(await p.followUps[0]).toEqual({ pong: 'carried!' });
  });

  it('drops the links to replicas that left (retain): calls in flight are still answered, then the link closes', async () => {
    const p = await pair();
    const link = p.link();
    const inFlight = link.call<{ text: string; pong?: string }>(
      'Handle',
      { text: 'x', delayMs: 300, pingBack: true },
      2_000,
    );
    await new Promise((r) => setTimeout(r, 50));
    p.edge.retain(new Set());
    expect(link.isDraining).toBe(true);
    // A replica whose heartbeat was late is not dead: what it was handed still comes back (and its own
    // call to us on that link too), as a unary call in flight outlives a membership change.
    expect(await inFlight).toEqual({ text: 'x', pong: 'x!' });
    await new Promise((r) => setImmediate(r));
    expect(link.closed).toBe(true);
    expect(p.link()).not.toBe(link);
  });

  it('lets the link a newer one of the same edge replaces finish what it carries, on both sides', async () => {
    const p = await pair();
    const old = p.link();
    const inFlight = old.call<{ text: string }>('Handle', { text: 'old', delayMs: 300 }, 2_000);
    await new Promise((r) => setTimeout(r, 50));
    p.edge.retain(new Set());
    // The edge opens a new link to the same owner: the owner's side of the old one drains, not closes.
    const fresh = p.link();
    expect(fresh).not.toBe(old);
    expect(await fresh.call<{ text: string }>('Handle', { text: 'new' }, 2_000)).toMatchObject({
      text: 'new',
    });
    expect(await inFlight).toMatchObject({ text: 'old' });
    // The owner's calls to the edge take the newest link.
    expect(await p.owner.get('edge-1')!.call<{ pong: string }>('Ping', { ping: 'p' }, 2_000)).toEqual({
      pong: 'p!',
    });
  });

  it('closes a draining link after its grace even when an answer never comes', async () => {
    const p = await pair();
    const link = p.link();
    const lost = link.call('Handle', { text: 'slow', delayMs: 1_000 }, 5_000);
    await new Promise((r) => setTimeout(r, 50));
    link.drain(100);
    await expect(lost).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(link.closed).toBe(true);
  });
});
