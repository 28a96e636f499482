// The relay over real UDP sockets on loopback, driven through its gRPC contract; two relays share a
// bus so a publication received on one reaches subscribers on the other.
import * as dgram from 'node:dgram';
import {
  parseRtcp,
  parseRtp,
  SDES_CNAME,
  serializeRtcp,
  serializeRtp,
  T140MixerReceiver,
  T140Receiver,
  T140Sender,
} from '@sip-pubsub/media';
import type { RunningService } from '@sip-pubsub/platform';
import {
  BusMembership,
  createLogger,
  createRegistry,
  GrpcClientPool,
  InProcessBus,
  InProcessKvStore,
  loadConfig,
  unary,
} from '@sip-pubsub/platform';
import {
  contracts,
  decodeEvent,
  encodeEvent,
  type LegAllocation__Output,
  type LegClosed,
  type LegSpec,
  legClosedSchema,
  legSourceSchema,
  type MediaRelayClient,
  mediaReaderSchema,
  type StatsResponse__Output,
  subjects,
} from '@sip-pubsub/proto';
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

function textOf(
  packets: Buffer[],
  pts: { t140Pt: number; redPt?: number } = { t140Pt: 98, redPt: 100 },
): string {
  const rx = new T140Receiver(pts);
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

  const startRelay = async (id: string, env: Record<string, string> = {}) => {
    const config = loadConfig(relayConfigSchema, {
      RELAY_MIX_BUFFER_MS: '20',
      ...env,
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
      membership: ({ self, watch }) => new BusMembership({ bus, self, watch }),
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
  const leg = (
    conferenceId: string,
    legId: string,
    p: Peer,
    role: 'pub' | 'sub',
    extra: Partial<LegSpec> = {},
  ): LegSpec => ({
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
    ...extra,
  });
  const allocateOnly = (relay: MediaRelayClient, spec: LegSpec) =>
    unary<LegSpec, LegAllocation__Output>(relay, 'AllocateLeg', spec);
  /** Allocates; a subscriber's peer then gives media consent with an RFC 6263 keep-alive from its port. */
  const allocate = async (relay: MediaRelayClient, spec: LegSpec) => {
    const allocation = await allocateOnly(relay, spec);
    const p = peers.find((x) => x.port === spec.remotePort);
    if (spec.subscribes && p) {
      p.socket.send(new Uint8Array(0), allocation.port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 30));
    }
    return allocation;
  };

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
    await waitFor(
      'deliveries',
      () => sub1.packets.length >= sent.length && sub2.packets.length >= sent.length,
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(sub1.packets).toEqual(sent);
    expect(sub2.packets).toEqual(sent);
    expect(pub.packets).toEqual([]);
    expect(textOf(sub1.packets)).toBe(lines.map((l) => `${l}\u2028`).join(''));

    const stats = await unary<object, StatsResponse__Output>(relay, 'Stats', {});
    expect(stats.legs).toBe(3);
    expect(stats.topics[0]).toMatchObject({
      conferenceId: 'c1',
      legs: 3,
      publisherLegs: 1,
      subscriberLegs: 2,
      publicationsIn: '5',
      invalid: '0',
    });
  });

  it('keeps two simultaneous publishers apart; invalid SenML is counted and, with the default drop policy, not delivered', async () => {
    const relay = await startRelay('r1');
    const [p1, p2, sub] = [await peer(), await peer(), await peer()];
    const a1 = await allocate(relay, leg('c2', 'p1', p1, 'pub'));
    const a2 = await allocate(relay, leg('c2', 'p2', p2, 'pub'));
    await allocate(relay, leg('c2', 'sub', sub, 'sub'));
    const one = packetsFor(1, ['[{"n":"a","v":1}]', 'not senml', '[{"n":"a","v":2}]']);
    const two = packetsFor(2, ['[{"n":"b","v":1}]', '[{"n":"b","v":2}]']);
    for (let i = 0; i < 3; i++) {
      if (one[i]) p1.socket.send(one[i], a1.port, '127.0.0.1');
      if (two[i]) p2.socket.send(two[i], a2.port, '127.0.0.1');
    }
    await waitFor('deliveries', () => sub.packets.length >= 4);
    await new Promise((r) => setTimeout(r, 100));
    const bySsrc = (ssrc: number) => sub.packets.filter((p) => p.readUInt32BE(8) === ssrc);
    // The invalid line's packet is gone and the next one renumbered: no gap, so nothing is dug out of redundancy.
    expect(bySsrc(1).map((p) => p.readUInt16BE(2) - one[0].readUInt16BE(2))).toEqual([0, 1]);
    expect(textOf(bySsrc(1))).toBe('[{"n":"a","v":1}]\u2028[{"n":"a","v":2}]\u2028');
    expect(textOf(bySsrc(2))).toBe('[{"n":"b","v":1}]\u2028[{"n":"b","v":2}]\u2028');
    const stats = await unary<object, StatsResponse__Output>(relay, 'Stats', {});
    expect(stats.topics[0]).toMatchObject({ publicationsIn: '5', invalid: '1' });
  });

  it('with the forward policy, invalid SenML reaches subscribers untouched (and is still counted)', async () => {
    const relay = await startRelay('r1');
    const [p1, sub] = [await peer(), await peer()];
    const a1 = await allocate(
      relay,
      leg('c2f', 'p1', p1, 'pub', { invalidData: 'INVALID_DATA_POLICY_FORWARD' }),
    );
    await allocate(relay, leg('c2f', 'sub', sub, 'sub', { invalidData: 'INVALID_DATA_POLICY_FORWARD' }));
    const sent = packetsFor(1, ['[{"n":"a","v":1}]', 'not senml']);
    for (const s of sent) p1.socket.send(s, a1.port, '127.0.0.1');
    await waitFor('deliveries', () => sub.packets.length >= 2);
    expect(sub.packets).toEqual(sent);
    const stats = await unary<object, StatsResponse__Output>(relay, 'Stats', {});
    expect(stats.topics[0]).toMatchObject({ publicationsIn: '2', invalid: '1' });
  });

  it('delivers under loss: redundancy fills up to 2 lost packets; beyond that the damaged lines are dropped and counted, later ones intact', async () => {
    const relay = await startRelay('r1');
    const [pub, tsub, msub] = [await peer(), await peer(), await peer()];
    const a = await allocate(relay, leg('cl', 'pub', pub, 'pub'));
    await allocate(relay, leg('cl', 'tsub', tsub, 'sub'));
    await allocate(relay, leg('cl', 'msub', msub, 'sub', { mode: 'FORWARDING_MODE_MIX' }));
    const lines = Array.from({ length: 14 }, (_, i) => `[{"n":"x","v":${i}}]`);
    const sent = packetsFor(77, lines); // one packet per line
    // Lost on the way in: 2 in a row (3, 4) are recovered; 3 in a row (8, 9, 10) lose packet 8 for good.
    const lost = new Set([3, 4, 8, 9, 10]);
    for (const [i, p] of sent.entries()) if (!lost.has(i)) pub.socket.send(p, a.port, '127.0.0.1');
    const mixRx = new T140MixerReceiver({ t140Pt: 98, redPt: 100 });
    let mixed = '';
    const valuesOf = (text: string) =>
      text
        .split('\u2028')
        .filter((l) => l.length > 0)
        .map((l) => (l.includes('\ufffd') ? 'damaged' : JSON.parse(l)[0].v));
    await waitFor('the last line through the mixer', () => {
      for (const b of msub.packets.splice(0)) mixed += mixRx.receive(parseRtp(b))?.text ?? '';
      return mixed.includes(lines[13]);
    });
    // Line 8 is gone and its loss marker merges it with line 9 into one damaged line: both dropped.
    expect(valuesOf(mixed)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13]);
    await waitFor('the last line translated', () => textOf(tsub.packets).includes(lines[13]));
    // Translate forwards whole packets: the group carrying the damaged line is held back (line 10 with it),
    // and the upstream gap stays a gap, which the subscriber's own decoder marks as damaged.
    const translated = valuesOf(textOf(tsub.packets));
    expect(translated.filter((v) => v !== 'damaged')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13]);
    const stats = await unary<object, StatsResponse__Output>(relay, 'Stats', {});
    expect(Number(stats.topics[0].recovered)).toBeGreaterThanOrEqual(4);
    expect(Number(stats.topics[0].lost)).toBeGreaterThanOrEqual(1);
    expect(Number(stats.topics[0].invalid)).toBeGreaterThanOrEqual(1);
  });

  it('mix mode (RFC 9071): relay SSRC, CSRC = source, one sequence, text of two publishers kept apart', async () => {
    const relay = await startRelay('r1');
    const [p1, p2, sub] = [await peer(), await peer(), await peer()];
    const a1 = await allocate(relay, leg('cm', 'p1', p1, 'pub'));
    const a2 = await allocate(relay, leg('cm', 'p2', p2, 'pub'));
    await allocate(relay, leg('cm', 'sub', sub, 'sub', { mode: 'FORWARDING_MODE_MIX' }));
    const one = packetsFor(11, ['[{"n":"a","v":1}]', 'bad', '[{"n":"a","v":2}]']);
    const two = packetsFor(22, ['[{"n":"b","v":1}]', '[{"n":"b","v":2}]']);
    for (let i = 0; i < 3; i++) {
      if (one[i]) p1.socket.send(one[i], a1.port, '127.0.0.1');
      if (two[i]) p2.socket.send(two[i], a2.port, '127.0.0.1');
    }
    const rx = new T140MixerReceiver({ t140Pt: 98, redPt: 100 });
    const text = new Map<number, string>();
    const expected = new Map([
      [11, '[{"n":"a","v":1}]\u2028[{"n":"a","v":2}]\u2028'],
      [22, '[{"n":"b","v":1}]\u2028[{"n":"b","v":2}]\u2028'],
    ]);
    await waitFor('mixed text of both sources', () => {
      for (const d of sub.packets.splice(0).map((b) => parseRtp(b))) {
        expect(d.ssrc).not.toBe(11);
        expect(d.ssrc).not.toBe(22);
        expect(d.csrcs).toHaveLength(1);
        const got = rx.receive(d);
        if (got) text.set(got.source, (text.get(got.source) ?? '') + got.text);
      }
      return text.get(11) === expected.get(11) && text.get(22) === expected.get(22);
    });
  });

  it('aggregate mode: records of both publishers within the window in one pack, CSRC list of contributors', async () => {
    const relay = await startRelay('r1');
    const [p1, p2, sub] = [await peer(), await peer(), await peer()];
    const a1 = await allocate(relay, leg('ca', 'p1', p1, 'pub'));
    const a2 = await allocate(relay, leg('ca', 'p2', p2, 'pub'));
    await allocate(
      relay,
      leg('ca', 'sub', sub, 'sub', { mode: 'FORWARDING_MODE_AGGREGATE', aggregateWindowMs: 300 }),
    );
    p1.socket.send(
      packetsFor(31, ['[{"bn":"dev1/","n":"t","v":1,"t":1700000000}]'])[0],
      a1.port,
      '127.0.0.1',
    );
    p2.socket.send(packetsFor(32, ['[{"n":"dev2/h","v":50,"t":1700000001}]'])[0], a2.port, '127.0.0.1');
    p2.socket.send(packetsFor(33, ['garbage'])[0], a2.port, '127.0.0.1');
    await waitFor('the aggregate pack', () => textOf(sub.packets).includes('\u2028'));
    const first = parseRtp(sub.packets[0]);
    expect(first.ssrc).not.toBe(31);
    expect(new Set(first.csrcs)).toEqual(new Set([31, 32]));
    const [line] = textOf(sub.packets).split('\u2028');
    expect(JSON.parse(line)).toEqual([
      { n: 'dev1/t', v: 1, t: 1700000000 },
      { n: 'dev2/h', v: 50, t: 1700000001 },
    ]);
  });

  it('rate-limits a flooding publisher per leg without starving the other publisher', async () => {
    const relay = await startRelay('r1', { RELAY_MAX_PACKETS_PER_SECOND_PER_LEG: '20' });
    const [flood, calm, sub] = [await peer(), await peer(), await peer()];
    const af = await allocate(relay, leg('cr', 'flood', flood, 'pub'));
    const ac = await allocate(relay, leg('cr', 'calm', calm, 'pub'));
    await allocate(relay, leg('cr', 'sub', sub, 'sub'));
    const floodPackets = packetsFor(
      41,
      Array.from({ length: 200 }, (_, i) => `[{"n":"f","v":${i}}]`),
    );
    const calmPackets = packetsFor(
      42,
      Array.from({ length: 5 }, (_, i) => `[{"n":"c","v":${i}}]`),
    );
    for (const p of floodPackets) flood.socket.send(p, af.port, '127.0.0.1');
    for (const p of calmPackets) calm.socket.send(p, ac.port, '127.0.0.1');
    await waitFor(
      'the calm publisher',
      () => sub.packets.filter((p) => p.readUInt32BE(8) === 42).length >= 5,
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(sub.packets.filter((p) => p.readUInt32BE(8) === 42)).toEqual(calmPackets);
    expect(sub.packets.filter((p) => p.readUInt32BE(8) === 41).length).toBeLessThan(floodPackets.length);
  });

  it('RTCP (rtcp-mux): reports on a timer, RR with the publisher’s statistics, SR for a mix stream; RTCP is never forwarded', async () => {
    const relay = await startRelay('r1', { RELAY_RTCP_INTERVAL_MS: '100' });
    const [pub, sub] = [await peer(), await peer()];
    const a = await allocate(relay, leg('cq', 'pub', pub, 'pub', { rtcpMux: true }));
    await allocate(relay, leg('cq', 'sub', sub, 'sub', { rtcpMux: true, mode: 'FORWARDING_MODE_MIX' }));
    const sent = packetsFor(51, ['[{"n":"a","v":1}]', '[{"n":"a","v":2}]', '[{"n":"a","v":3}]']);
    sent.splice(1, 1); // one lost on the way in
    for (const p of sent) pub.socket.send(p, a.port, '127.0.0.1');
    pub.socket.send(
      serializeRtcp([
        {
          type: 'sr',
          ssrc: 51,
          ntpSeconds: 1,
          ntpFraction: 0,
          rtpTimestamp: 0,
          packetCount: 3,
          octetCount: 9,
          reports: [],
        },
      ]),
      a.port,
      '127.0.0.1',
    );
    const rtcpOf = (p: Peer) => p.packets.filter((b) => b[1] >= 200 && b[1] <= 204).map((b) => parseRtcp(b));
    await waitFor('an RR to the publisher', () => rtcpOf(pub).length > 0);
    const [rr, sdes] = rtcpOf(pub)[0];
    expect(rr).toMatchObject({ type: 'rr', reports: [{ ssrc: 51, cumulativeLost: 1, lastSr: 0x00010000 }] });
    expect(rr.type === 'rr' && rr.reports[0].highestSequence & 0xffff).toBe(sent[1].readUInt16BE(2));
    expect(sdes).toMatchObject({
      type: 'sdes',
      chunks: [{ items: [{ type: SDES_CNAME, text: 'media-relay@r1' }] }],
    });
    await waitFor('an SR to the mix subscriber', () => rtcpOf(sub).some((c) => c[0].type === 'sr'));
    const sr = rtcpOf(sub).find((c) => c[0].type === 'sr')![0];
    expect(sr).toMatchObject({ type: 'sr', packetCount: expect.any(Number) });
    // The publisher's SR was consumed, not relayed: the subscriber only ever sees our SSRC in RTCP.
    expect(rtcpOf(sub).every((c) => c[0].ssrc !== 51)).toBe(true);
  });

  it('latching: sends to where a leg’s first valid packet came from, within the negotiated host only', async () => {
    const relay = await startRelay('r1', { RELAY_LATCHING: 'true', RELAY_NAT_TRAVERSAL: 'false' });
    const [pub, sub, subNat] = [await peer(), await peer(), await peer()];
    const stranger = await peer('127.0.0.2');
    const a = await allocate(relay, leg('cl', 'pub', pub, 'pub'));
    const s = await allocateOnly(relay, leg('cl', 'sub', sub, 'sub'));
    // The subscriber's packets come from another port of its host (a NAT binding); a stranger tries first.
    const hello = serializeRtp({
      version: 2,
      padding: false,
      extension: null,
      marker: false,
      payloadType: 98,
      sequenceNumber: 1,
      timestamp: 0,
      ssrc: 9,
      csrcs: [],
      payload: new Uint8Array(0),
    });
    stranger.socket.send(hello, s.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 50));
    subNat.socket.send(hello, s.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 50));
    const sent = packetsFor(61, ['[{"n":"a","v":1}]']);
    pub.socket.send(sent[0], a.port, '127.0.0.1');
    await waitFor('delivery to the latched address', () => subNat.packets.length >= 1);
    expect(subNat.packets).toEqual(sent);
    expect(sub.packets).toEqual([]);
    expect(stranger.packets).toEqual([]);
  });

  it('maps payload type numbers to what each subscriber negotiated, here and on another relay', async () => {
    const r1 = await startRelay('r1');
    const r2 = await startRelay('r2');
    const [pub, same, other, plain, remote] = [
      await peer(),
      await peer(),
      await peer(),
      await peer(),
      await peer(),
    ];
    const a = await allocate(r1, leg('cp', 'pub', pub, 'pub'));
    await allocate(r1, leg('cp', 'same', same, 'sub'));
    await allocate(r1, leg('cp', 'other', other, 'sub', { t140Pt: 96, redPt: 97 }));
    await allocate(r1, leg('cp', 'plain', plain, 'sub', { t140Pt: 104, redPt: 0 }));
    await allocate(r2, leg('cp', 'remote', remote, 'sub', { t140Pt: 111, redPt: 112 }));
    const lines = ['[{"n":"p","v":1}]', '[{"n":"p","v":2}]', '[{"n":"p","v":3}]'];
    const sent = packetsFor(9, lines);
    for (const s of sent) pub.socket.send(s, a.port, '127.0.0.1');
    const all = [same, other, plain, remote];
    await waitFor('deliveries to every subscriber', () => all.every((p) => p.packets.length >= sent.length));
    const text = lines.map((l) => `${l}\u2028`).join('');
    expect(same.packets).toEqual(sent);
    expect(other.packets.map((p) => p[1] & 0x7f)).toEqual([97, 97, 97]);
    expect(textOf(other.packets, { t140Pt: 96, redPt: 97 })).toBe(text);
    expect(plain.packets.map((p) => p[1] & 0x7f)).toEqual([104, 104, 104]);
    expect(textOf(plain.packets, { t140Pt: 104 })).toBe(text);
    expect(remote.packets.map((p) => p[1] & 0x7f)).toEqual([112, 112, 112]);
    expect(textOf(remote.packets, { t140Pt: 111, redPt: 112 })).toBe(text);
    // Only the payload type numbers change: sequence numbers, timestamps and SSRC are the publisher's.
    for (const p of [...other.packets, ...remote.packets]) expect(p.readUInt32BE(8)).toBe(9);
    expect(other.packets.map((p) => p.readUInt16BE(2))).toEqual(sent.map((p) => p.readUInt16BE(2)));
  });

  it('delivers a publication received on one relay to subscribers on another through the bus, once', async () => {
    const r1 = await startRelay('r1');
    const r2 = await startRelay('r2');
    const [pub, local, remote] = [await peer(), await peer(), await peer()];
    const a = await allocate(r1, leg('c3', 'pub', pub, 'pub'));
    await allocate(r1, leg('c3', 'local', local, 'sub'));
    await allocate(r2, leg('c3', 'remote', remote, 'sub'));
    const [...sent] = packetsFor(7, [
      '[{"n":"t","v":1}]',
      '[{"n":"t","v":2}]',
      '[{"n":"t","v":3}]',
      '[{"n":"t","v":4}]',
    ]);
    const fourth = sent.pop()!;
    for (const s of sent) pub.socket.send(s, a.port, '127.0.0.1');
    await waitFor('deliveries on both relays', () => local.packets.length >= 3 && remote.packets.length >= 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(local.packets).toEqual(sent);
    expect(remote.packets).toEqual(sent);

    // After its last leg leaves, a relay stops delivering the conference.
    await unary(r2, 'ReleaseLeg', { conferenceId: 'c3', legId: 'remote' });
    pub.socket.send(fourth, a.port, '127.0.0.1');
    await waitFor('local delivery', () => local.packets.length >= 4);
    await new Promise((r) => setTimeout(r, 100));
    expect(remote.packets).toHaveLength(3);
  });

  it('puts a publication on the bus only while another relay hosts the conference or a reader reads; says each SSRC once', async () => {
    const onBus: string[] = [];
    const sources: unknown[] = [];
    const watching = [
      bus.subscribe(subjects.mediaAll, (m) => onBus.push(m.headers.relay ?? '')),
      bus.subscribe(subjects.legSourceAll, (m) => {
        const d = decodeEvent(legSourceSchema, m.data);
        if (d.ok) sources.push({ legId: d.value.legId, ssrc: d.value.ssrc });
      }),
    ];
    try {
      const r1 = await startRelay('r1');
      const r2 = await startRelay('r2');
      const [pub, local, remote] = [await peer(), await peer(), await peer()];
      const a = await allocate(r1, leg('c9', 'pub', pub, 'pub'));
      await allocate(r1, leg('c9', 'local', local, 'sub'));
      const sent = packetsFor(
        9,
        [1, 2, 3, 4, 5, 6].map((v) => `[{"n":"t","v":${v}}]`),
      );
      const send = async (from: number, to: number, count: number) => {
        for (const s of sent.slice(from, to)) pub.socket.send(s, a.port, '127.0.0.1');
        await waitFor('local deliveries', () => local.packets.length >= count);
        await bus.flush();
      };
      // Alone on r1 and nobody reading: nothing goes on the bus, the SSRC is said once.
      await send(0, 2, 2);
      expect(onBus).toEqual([]);
      expect(sources).toEqual([{ legId: 'pub', ssrc: 9 }]);

      // A leg on r2: r1 shares from then on, and r2 delivers.
      await allocate(r2, leg('c9', 'remote', remote, 'sub'));
      await send(2, 4, 4);
      await waitFor('remote deliveries', () => remote.packets.length >= 2);
      expect(remote.packets).toEqual(sent.slice(2, 4));
      expect(onBus).toEqual(['r1', 'r1']);

      // r2's last leg goes: alone again. Then a reader of every stream says it reads.
      await unary(r2, 'ReleaseLeg', { conferenceId: 'c9', legId: 'remote' });
      await bus.flush();
      await send(4, 5, 5);
      expect(onBus).toHaveLength(2);
      bus.publish(
        subjects.mediaReaders,
        encodeEvent(mediaReaderSchema, { readerId: 'notifier-1', reading: true }),
      );
      await bus.flush();
      await send(5, 6, 6);
      expect(onBus).toEqual(['r1', 'r1', 'r1']);
      expect(sources).toEqual([{ legId: 'pub', ssrc: 9 }]);
    } finally {
      for (const w of watching) w.unsubscribe();
    }
  });

  it('closes a leg that received nothing for RELAY_LEG_SILENCE_TIMEOUT_MS, returns its port and publishes legClosed with the reason', async () => {
    const relay = await startRelay('r-silence', { RELAY_LEG_SILENCE_TIMEOUT_MS: '1s' });
    const events: LegClosed[] = [];
    const sub = bus.subscribe(subjects.legClosed('r-silence'), (msg) => {
      const decoded = decodeEvent(legClosedSchema, msg.data);
      if (decoded.ok) events.push(decoded.value);
    });
    try {
      const [mute, quit, talker] = [await peer(), await peer(), await peer()];
      const before = Date.now();
      await allocateOnly(relay, leg('cs', 'mute', mute, 'sub'));
      const q = await allocate(relay, leg('cs', 'quit', quit, 'sub'));
      const t = await allocate(relay, leg('cs', 'talker', talker, 'sub'));
      // `talker` keeps sending keep-alives; `quit` gave consent once and went quiet; `mute` never spoke.
      const keepalives = setInterval(() => talker.socket.send(new Uint8Array(0), t.port, '127.0.0.1'), 200);
      try {
        await waitFor('two legs closed', () => events.length >= 2, 8_000);
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        clearInterval(keepalives);
      }
      expect(events.map((e) => [e.legId, e.reason]).sort()).toEqual([
        ['mute', 'no-consent'],
        ['quit', 'silent'],
      ]);
      for (const e of events) {
        expect(e).toMatchObject({ relayId: 'r-silence', conferenceId: 'cs' });
        expect(e.at).toBeGreaterThanOrEqual(before + 1_000);
      }
      const stats = await unary<object, StatsResponse__Output>(relay, 'Stats', {});
      expect(stats.legs).toBe(1);
      expect(q.port).toBeGreaterThan(0);
      // Every port but the talker's can be had again: the closed legs gave theirs back.
      const again = [];
      for (let i = 0; i < 19; i++) again.push(await allocateOnly(relay, leg('cs2', `new${i}`, mute, 'sub')));
      expect(new Set(again.map((a) => a.port)).size).toBe(19);
      expect(again.map((a) => a.port)).not.toContain(t.port);
    } finally {
      sub.unsubscribe();
    }
  });

  it('a retried AllocateLeg for a leg under allocation takes one port, not two', async () => {
    const relay = await startRelay('r-retry');
    const p = await peer();
    const all = await Promise.all(
      Array.from({ length: 8 }, () => allocateOnly(relay, leg('cr', 'same', p, 'sub'))),
    );
    expect(new Set(all.map((x) => x.port)).size).toBe(1);
    const stats = await unary<object, StatsResponse__Output>(relay, 'Stats', {});
    expect(stats.legs).toBe(1);
    await unary(relay, 'ReleaseLeg', { conferenceId: 'cr', legId: 'same' });
    const again = [];
    for (let i = 0; i < 20; i++) again.push(await allocateOnly(relay, leg('cr', `n${i}`, p, 'sub')));
    expect(new Set(again.map((x) => x.port)).size).toBe(20);
  });

  it('an allocation that fails midway gives its port and socket back', async () => {
    const relay = await startRelay('r-fail');
    const p = await peer();
    // A conference id no bus subject can hold: the leg is set up, then joining its media subject throws.
    await expect(allocateOnly(relay, leg('bad id', 'broken', p, 'sub'))).rejects.toThrow();
    const stats = await unary<object, StatsResponse__Output>(relay, 'Stats', {});
    expect(stats.legs).toBe(0);
    const again = [];
    for (let i = 0; i < 20; i++) again.push(await allocateOnly(relay, leg('cf', `n${i}`, p, 'sub')));
    expect(new Set(again.map((x) => x.port)).size).toBe(20);
  });
});
