// The relay over real UDP sockets on loopback, driven through its gRPC contract; two relays share a
// bus so a publication received on one reaches subscribers on the other.
import * as dgram from 'node:dgram';
import { T140Receiver, T140Sender, parseRtp, serializeRtp } from '@sip-pubsub/media';
import type { RunningService } from '@sip-pubsub/platform';
import { GrpcClientPool, InProcessBus, InProcessKvStore, createLogger, createRegistry, loadConfig, unary } from '@sip-pubsub/platform';
import { type LegAllocation__Output, type LegSpec, type MediaRelayClient, type StatsResponse__Output, contracts } from '@sip-pubsub/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { relayConfigSchema } from './config.js';
import { startMediaRelay } from './service.js';

interface Peer {
  socket: dgram.Socket;
  port: number;
  packets: Buffer[];
}

async function waitFor(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function textOf(packets: Buffer[]): string {
  const rx = new T140Receiver({ t140Pt: 98, redPt: 100 });
  return packets.map((p) => rx.receive(parseRtp(p)).text).join('');
}

function packetsFor(ssrc: number, lines: string[]): Buffer[] {
  const sender = new T140Sender({ ssrc, t140Pt: 98, redPt: 100 });
  return lines.flatMap((line, i) => sender.send(`${line}\u2028`, 1_000 + i * 10).map(serializeRtp));
}

describe('media-relay over UDP', () => {
  const bus = new InProcessBus();
  const relays: (RunningService & { grpcPort: number })[] = [];
  const clients = new GrpcClientPool<MediaRelayClient>(contracts.MediaRelay);
  const peers: Peer[] = [];
  let base = 42_000 + Math.floor(Math.random() * 100) * 40;

  const startRelay = async (id: string) => {
    const config = loadConfig(relayConfigSchema, {
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT_MIN: String(base),
      RELAY_PORT_MAX: String(base + 19),
    });
    base += 20;
    const relay = await startMediaRelay(config, {
      bus,
      kv: new InProcessKvStore(),
      logger: createLogger('test', { level: 'silent' }),
      registry: createRegistry('relay', id),
      instanceId: id,
    });
    relays.push(relay);
    return clients.get(`127.0.0.1:${relay.grpcPort}`);
  };
  const peer = async (host = '127.0.0.1'): Promise<Peer> => {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, host, r));
    const p: Peer = { socket, port: socket.address().port, packets: [] };
    socket.on('message', (m) => p.packets.push(m));
    peers.push(p);
    return p;
  };
  const leg = (conferenceId: string, legId: string, p: Peer, role: 'pub' | 'sub'): LegSpec => ({
    conferenceId,
    legId,
    publishes: role === 'pub',
    subscribes: role === 'sub',
    remoteHost: '127.0.0.1',
    remotePort: p.port,
    t140Pt: 98,
    redPt: 100,
    redundancy: 2,
    mode: 'FORWARDING_MODE_TRANSLATE',
  });
  const allocate = (relay: MediaRelayClient, spec: LegSpec) => unary<LegSpec, LegAllocation__Output>(relay, 'AllocateLeg', spec);

  afterEach(async () => {
    for (const r of relays.splice(0)) await r.stop();
    for (const p of peers.splice(0)) p.socket.close();
  });

  it('forwards each publisher packet unchanged to every subscriber leg; drops keep-alives and strangers', async () => {
    const relay = await startRelay('r1');
    const [pub, sub1, sub2] = [await peer(), await peer(), await peer()];
    const stranger = await peer('127.0.0.2');
    const a = await allocate(relay, leg('c1', 'pub', pub, 'pub'));
    await allocate(relay, leg('c1', 's1', sub1, 'sub'));
    await allocate(relay, leg('c1', 's2', sub2, 'sub'));
    expect(a).toMatchObject({ relayId: 'r1', host: '127.0.0.1' });

    const lines = [0, 1, 2, 3, 4].map((i) => `[{"n":"x","v":${i}}]`);
    const sent = packetsFor(0xabc, lines);
    pub.socket.send(Buffer.alloc(0), a.port, '127.0.0.1'); // RFC 6263 keep-alive
    stranger.socket.send(packetsFor(0xbad, ['[{"n":"evil","v":1}]'])[0], a.port, '127.0.0.1');
    for (const s of sent) pub.socket.send(s, a.port, '127.0.0.1');
    await waitFor('deliveries', () => sub1.packets.length >= sent.length && sub2.packets.length >= sent.length);
    await new Promise((r) => setTimeout(r, 100));
    expect(sub1.packets).toEqual(sent);
    expect(sub2.packets).toEqual(sent);
    expect(pub.packets).toEqual([]);
    expect(textOf(sub1.packets)).toBe(lines.map((l) => `${l}\u2028`).join(''));

    const stats = await unary<object, StatsResponse__Output>(relay, 'Stats', {});
    expect(stats.legs).toBe(3);
    expect(stats.topics[0]).toMatchObject({ conferenceId: 'c1', legs: 3, publisherLegs: 1, subscriberLegs: 2, publicationsIn: '5', invalid: '0' });
  });

  it('keeps two simultaneous publishers apart and counts invalid SenML', async () => {
    const relay = await startRelay('r1');
    const [p1, p2, sub] = [await peer(), await peer(), await peer()];
    const a1 = await allocate(relay, leg('c2', 'p1', p1, 'pub'));
    const a2 = await allocate(relay, leg('c2', 'p2', p2, 'pub'));
    await allocate(relay, leg('c2', 'sub', sub, 'sub'));
    const one = packetsFor(1, ['[{"n":"a","v":1}]', '[{"n":"a","v":2}]', 'not senml']);
    const two = packetsFor(2, ['[{"n":"b","v":1}]', '[{"n":"b","v":2}]']);
    for (let i = 0; i < 3; i++) {
      if (one[i]) p1.socket.send(one[i], a1.port, '127.0.0.1');
      if (two[i]) p2.socket.send(two[i], a2.port, '127.0.0.1');
    }
    await waitFor('deliveries', () => sub.packets.length >= 5);
    const bySsrc = (ssrc: number) => sub.packets.filter((p) => p.readUInt32BE(8) === ssrc);
    expect(textOf(bySsrc(1))).toBe('[{"n":"a","v":1}]\u2028[{"n":"a","v":2}]\u2028not senml\u2028');
    expect(textOf(bySsrc(2))).toBe('[{"n":"b","v":1}]\u2028[{"n":"b","v":2}]\u2028');
    const stats = await unary<object, StatsResponse__Output>(relay, 'Stats', {});
    expect(stats.topics[0]).toMatchObject({ publicationsIn: '5', invalid: '1' });
  });

  it('delivers a publication received on one relay to subscribers on another through the bus, once', async () => {
    const r1 = await startRelay('r1');
    const r2 = await startRelay('r2');
    const [pub, local, remote] = [await peer(), await peer(), await peer()];
    const a = await allocate(r1, leg('c3', 'pub', pub, 'pub'));
    await allocate(r1, leg('c3', 'local', local, 'sub'));
    await allocate(r2, leg('c3', 'remote', remote, 'sub'));
    const sent = packetsFor(7, ['[{"n":"t","v":1}]', '[{"n":"t","v":2}]', '[{"n":"t","v":3}]']);
    for (const s of sent) pub.socket.send(s, a.port, '127.0.0.1');
    await waitFor('deliveries on both relays', () => local.packets.length >= 3 && remote.packets.length >= 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(local.packets).toEqual(sent);
    expect(remote.packets).toEqual(sent);

    // After its last leg leaves, a relay stops delivering the conference.
    await unary(r2, 'ReleaseLeg', { conferenceId: 'c3', legId: 'remote' });
    pub.socket.send(packetsFor(7, ['[{"n":"t","v":4}]'])[0], a.port, '127.0.0.1');
    await waitFor('local delivery', () => local.packets.length >= 4);
    await new Promise((r) => setTimeout(r, 100));
    expect(remote.packets).toHaveLength(3);
  });
});
