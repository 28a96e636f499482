// The relay core's bounds (issue 7): media consent before any send, silent legs found, and every
// per-leg and per-conference buffer capped with what goes past the cap counted, never burst later.
import { serializeRed, serializeRtp, T140Sender } from '@sip-pubsub/media';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DropReason,
  Leg,
  type LegOptions,
  MAX_REMOTE_SOURCES,
  RelayCore,
  type RelayCounters,
} from './relay.js';

function setup(opts: { latching?: boolean; consentTimeoutMs?: number } = {}) {
  let now = 1_000;
  const drops = new Map<DropReason, number>();
  const counters: RelayCounters = {
    publicationsIn: () => {},
    deliveriesOut: () => {},
    invalid: () => {},
    dropped: (r, n = 1) => drops.set(r, (drops.get(r) ?? 0) + n),
    lost: () => {},
    latency: () => {},
    packetsIn: () => {},
  };
  const core = new RelayCore({
    latching: opts.latching ?? false,
    maxPackBytes: 16_384,
    counters,
    share: () => {},
    now: () => now,
    consentTimeoutMs: opts.consentTimeoutMs ?? 30_000,
    maxLineLength: 16_384,
  });
  const sent: { port: number; bytes: number }[] = [];
  const send = (d: Uint8Array, _host: string, port: number) => sent.push({ port, bytes: d.length });
  const base: Omit<LegOptions, 'legId' | 'publishes' | 'subscribes' | 'remotePort'> = {
    conferenceId: 'c',
    remoteHost: '127.0.0.1',
    t140Pt: 98,
    redPt: 100,
    invalidData: 'drop',
    mode: 'translate',
    aggregateWindowMs: 1_000,
  };
  const limits = {
    packetsPerSecond: 1_000_000,
    mixBufferMs: 300,
    maxHeldBytes: 65_536,
    maxQueuedBytes: 65_536,
  };
  const addLeg = (
    legId: string,
    role: 'pub' | 'sub',
    remotePort: number,
    extra: Partial<LegOptions> = {},
  ) => {
    const leg = new Leg(
      { ...base, legId, publishes: role === 'pub', subscribes: role === 'sub', remotePort, ...extra },
      20_000 + remotePort,
      send,
      limits,
    );
    core.addLeg(leg);
    return leg;
  };
  return {
    core,
    sent,
    drops,
    addLeg,
    advance: (ms: number) => {
      now += ms;
    },
    keepalive: (leg: Leg, port = leg.options.remotePort, host = '127.0.0.1') =>
      core.onDatagram(leg, new Uint8Array(0), host, port),
  };
}

const line = (i: number) => `[{"n":"s${i}","v":${i}}]\u2028`;

function plain(seq: number, payload: Uint8Array, ssrc = 7): Uint8Array {
  return serializeRtp({
    version: 2,
    padding: false,
    extension: null,
    marker: false,
    payloadType: 98,
    sequenceNumber: seq & 0xffff,
    timestamp: seq * 10,
    ssrc,
    csrcs: [],
    payload,
  });
}

describe('media consent (README "Media consent")', () => {
  it('sends nothing to a subscriber until a datagram from its negotiated address, then until consent lapses', () => {
    const { core, sent, drops, addLeg, advance, keepalive } = setup({ consentTimeoutMs: 30_000 });
    const pub = addLeg('pub', 'pub', 4000);
    const sub = addLeg('sub', 'sub', 5000);
    const sender = new T140Sender({ ssrc: 7, t140Pt: 98, redPt: 100 });
    const publish = (i: number) => {
      for (const p of sender.send(line(i), 1_000 + i))
        core.onDatagram(pub, serializeRtp(p), '127.0.0.1', 4000);
    };
    publish(0);
    expect(sent).toEqual([]);
    expect(drops.get('no-consent')).toBe(1);
    // The right host from another port is not the address we would send to.
    keepalive(sub, 5001);
    publish(1);
    expect(sent).toEqual([]);
    expect(core.hasConsent(sub)).toBe(false);
    keepalive(sub);
    expect(core.hasConsent(sub)).toBe(true);
    publish(2);
    expect(sent.map((s) => s.port)).toEqual([5000]);
    // Refreshed within the timeout, consent holds; without a refresh it lapses and sending stops.
    advance(20_000);
    keepalive(sub);
    advance(20_000);
    publish(3);
    expect(sent).toHaveLength(2);
    advance(30_000);
    publish(4);
    expect(sent).toHaveLength(2);
    expect(core.hasConsent(sub)).toBe(false);
  });

  it('holds a greeting (retained values) until the peer first consents, then sends it once', () => {
    const { core, sent, addLeg, keepalive } = setup();
    const sub = addLeg('sub', 'sub', 5000);
    const greeting = [new Uint8Array(40), new Uint8Array(41)];
    core.greet(sub, greeting);
    // A leg whose SDP names someone else's address gets nothing: no reflection, not even the greeting.
    expect(sent).toEqual([]);
    keepalive(sub, 5001);
    expect(sent).toEqual([]);
    keepalive(sub);
    expect(sent).toEqual([
      { port: 5000, bytes: 40 },
      { port: 5000, bytes: 41 },
    ]);
    keepalive(sub);
    expect(sent).toHaveLength(2);
    // With consent already given, a greeting goes at once.
    core.greet(sub, [new Uint8Array(7)]);
    expect(sent).toHaveLength(3);
  });

  it('an RTCP packet or an RTP packet of an unknown payload type from the peer is consent too', () => {
    const { core, addLeg } = setup();
    const a = addLeg('a', 'sub', 5000);
    const b = addLeg('b', 'sub', 5001);
    core.onDatagram(a, Uint8Array.from([0x80, 201, 0, 1, 0, 0, 0, 9]), '127.0.0.1', 5000); // empty RR
    core.onDatagram(
      b,
      plain(1, new Uint8Array(0)).map((x, i) => (i === 1 ? 20 : x)),
      '127.0.0.1',
      5001,
    );
    expect(core.hasConsent(a)).toBe(true);
    expect(core.hasConsent(b)).toBe(true);
  });

  it('a new address from a re-INVITE needs consent of its own', () => {
    const { core, addLeg, keepalive } = setup();
    const sub = addLeg('sub', 'sub', 5000);
    keepalive(sub);
    core.retarget(sub, '127.0.0.1', 5000);
    expect(core.hasConsent(sub)).toBe(true);
    core.retarget(sub, '127.0.0.7', 5000);
    expect(core.hasConsent(sub)).toBe(false);
  });

  it('with latching, a keep-alive from the negotiated host latches a recvonly leg and gives consent there', () => {
    const { core, addLeg, keepalive } = setup({ latching: true });
    const sub = addLeg('sub', 'sub', 5000);
    keepalive(sub, 6000, '127.0.0.2'); // another host: ignored
    expect(sub.latched).toBe(false);
    keepalive(sub, 6000);
    expect(sub.target).toEqual({ host: '127.0.0.1', port: 6000 });
    expect(core.hasConsent(sub)).toBe(true);
  });

  it('whatever publishers and strangers send, a subscriber that never sent from its address is sent nothing', () => {
    const from = fc.record({
      host: fc.constantFrom('127.0.0.1', '127.0.0.2', '127.0.0.7', '::ffff:127.0.0.7'),
      port: fc.constantFrom(4000, 5001, 5000),
    });
    const datagram = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.nat({ max: 20 }).map((i) => plain(1 + i, new TextEncoder().encode(line(i)))),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), datagram, from), { maxLength: 40 }),
        fc.boolean(),
        (steps, latching) => {
          const { core, sent, addLeg, advance } = setup({ latching });
          const pub = addLeg('pub', 'pub', 4000);
          // The victim: negotiated as 127.0.0.7:5000, never sends anything itself.
          const victim = addLeg('victim', 'sub', 5000, { remoteHost: '127.0.0.7' });
          for (const [toVictimPort, d, f] of steps) {
            // Strangers may write to the victim leg's relay port too, from anywhere but the victim's address.
            if (toVictimPort && !(f.host.endsWith('127.0.0.7') && f.port === 5000))
              core.onDatagram(victim, d, latching ? '127.0.0.1' : f.host, f.port);
            else core.onDatagram(pub, d, '127.0.0.1', 4000);
            advance(50);
            core.tick();
          }
          core.sendReports();
          expect(sent.filter((s) => s.port === 5000)).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('silentLegs: no-consent for a leg that never spoke, silent for one that stopped, none while heard', () => {
    const { core, addLeg, advance, keepalive } = setup();
    const never = addLeg('never', 'sub', 5000);
    const stopped = addLeg('stopped', 'sub', 5001);
    const alive = addLeg('alive', 'sub', 5002);
    keepalive(stopped);
    expect(core.silentLegs(10_000)).toEqual([]);
    for (let i = 0; i < 4; i++) {
      advance(3_000);
      keepalive(alive);
    }
    const silent = core.silentLegs(10_000).map(({ leg, reason }) => [leg.options.legId, reason]);
    expect(silent).toEqual([
      ['never', 'no-consent'],
      ['stopped', 'silent'],
    ]);
    expect(never.consented).toBe(false);
  });
});

describe('buffer caps (issue 7, defect 3)', () => {
  it('an open line then 60 kB packets with a stale sequence number: nothing held, each counted, no burst on close', () => {
    const { core, sent, drops, addLeg, keepalive } = setup();
    const pub = addLeg('pub', 'pub', 4000);
    const sub = addLeg('sub', 'sub', 5000);
    keepalive(sub);
    const text = new TextEncoder();
    core.onDatagram(pub, plain(100, text.encode('[{"n":"open","v":1}')), '127.0.0.1', 4000);
    const big = new Uint8Array(60_000).fill(0x41);
    for (let i = 0; i < 500; i++) core.onDatagram(pub, plain(100, big), '127.0.0.1', 4000);
    expect(drops.get('stale')).toBe(500);
    expect(pub.filter.holding.packets).toBe(1);
    core.onDatagram(pub, plain(101, text.encode(']\u2028')), '127.0.0.1', 4000);
    expect(sent.reduce((n, s) => n + s.bytes, 0)).toBeLessThan(1_000);
  });

  it('an open line then 60 kB redundancy-only packets with fresh sequence numbers: held stays under the byte cap, the excess is counted', () => {
    const { core, sent, drops, addLeg, keepalive } = setup();
    const pub = addLeg('pub', 'pub', 4000);
    const sub = addLeg('sub', 'sub', 5000);
    keepalive(sub);
    const text = new TextEncoder();
    const red = (seq: number, primary: string, redundant: Uint8Array) =>
      serializeRtp({
        version: 2,
        padding: false,
        extension: null,
        marker: false,
        payloadType: 100,
        sequenceNumber: seq,
        timestamp: seq,
        ssrc: 7,
        csrcs: [],
        payload: serializeRed({
          redundant: [{ payloadType: 99, timestampOffset: 0, data: redundant }],
          primary: { payloadType: 98, data: text.encode(primary) },
        }),
      });
    core.onDatagram(pub, red(1, '[{"n":"open","v":1}', new Uint8Array(0)), '127.0.0.1', 4000);
    let maxHeld = 0;
    for (let i = 0; i < 300; i++) {
      core.onDatagram(pub, red(2 + i, '', new Uint8Array(1_000).fill(0x42)), '127.0.0.1', 4000);
      maxHeld = Math.max(maxHeld, pub.filter.holding.bytes);
    }
    expect(maxHeld).toBeLessThanOrEqual(65_536);
    expect(drops.get('held-overflow')).toBeGreaterThan(200);
    core.onDatagram(pub, red(400, ']\u2028', new Uint8Array(0)), '127.0.0.1', 4000);
    // The line lost its start to the cap: the rest of it goes too, and nothing held bursts out.
    expect(sent).toEqual([]);
    expect(pub.filter.holding.packets).toBe(0);
  });

  it('an over-long line made of text recovered from redundancy is dropped whole, its closing packet too', () => {
    const { core, sent, addLeg, keepalive } = setup();
    const pub = addLeg('pub', 'pub', 4000);
    const sub = addLeg('sub', 'sub', 5000);
    keepalive(sub);
    const blocks = Array.from({ length: 58 }, () => ({
      payloadType: 98,
      timestampOffset: 0,
      data: new Uint8Array(1_000).fill(0x62),
    }));
    const red = (seq: number, primary: Uint8Array) =>
      serializeRtp({
        version: 2,
        padding: false,
        extension: null,
        marker: false,
        payloadType: 100,
        sequenceNumber: seq,
        timestamp: seq,
        ssrc: 7,
        csrcs: [],
        payload: serializeRed({ redundant: blocks, primary: { payloadType: 98, data: primary } }),
      });
    const text = new TextEncoder();
    core.onDatagram(pub, red(1, text.encode('[{"n":"open","v":1}')), '127.0.0.1', 4000);
    // Every other packet is lost, so each one that arrives recovers 1 kB from its redundancy.
    let seq = 1;
    for (let i = 0; i < 100; i++) {
      seq += 2;
      core.onDatagram(pub, red(seq, new Uint8Array(0)), '127.0.0.1', 4000);
    }
    expect(pub.lines.pending.length).toBeLessThanOrEqual(16_384);
    core.onDatagram(pub, red(seq + 1, text.encode(']\u2028')), '127.0.0.1', 4000);
    expect(sent).toEqual([]);
  });

  it('a line without U+2028 is kept up to the pack size only', () => {
    const { core, drops, addLeg } = setup();
    const pub = addLeg('pub', 'pub', 4000);
    const chunk = new TextEncoder().encode('x'.repeat(1_000));
    for (let i = 0; i < 100; i++) core.onDatagram(pub, plain(1 + i, chunk), '127.0.0.1', 4000);
    expect(pub.lines.pending.length).toBeLessThanOrEqual(16_384);
    expect((drops.get('held-overflow') ?? 0) + (drops.get('invalid-data') ?? 0)).toBeGreaterThan(0);
  });

  it('a mix leg queues at most its cap of text, and keeps at most MAX_MIX_SOURCES sources', () => {
    const { core, drops, addLeg, keepalive } = setup();
    const mix = addLeg('mix', 'sub', 5000, { mode: 'mix' });
    keepalive(mix);
    const pubs = Array.from({ length: 3 }, (_, i) => addLeg(`pub${i}`, 'pub', 4000 + i));
    const filler = `[{"n":"${'y'.repeat(8_000)}","v":1}]\u2028`;
    // Lines arrive much faster than the 300 ms buffering interval lets them out.
    for (let i = 0; i < 40; i++) {
      const p = pubs[i % 3];
      core.onDatagram(
        p,
        plain(1 + Math.floor(i / 3), new TextEncoder().encode(filler), 100 + (i % 3)),
        '127.0.0.1',
        p.options.remotePort,
      );
    }
    expect(mix.transmitter!.queued.text).toBeLessThanOrEqual(65_536);
    expect(drops.get('queue-overflow')).toBeGreaterThan(0);
    // A publisher that changes SSRC with every packet.
    const hopper = addLeg('hopper', 'pub', 4100);
    for (let i = 0; i < 500; i++)
      core.onDatagram(hopper, plain(1, new TextEncoder().encode(line(i)), 10_000 + i), '127.0.0.1', 4100);
    expect(mix.transmitter!.queued.sources).toBeLessThanOrEqual(64);
  });

  it('an aggregate window collects at most its cap of bytes', () => {
    const { core, drops, addLeg, keepalive } = setup();
    const agg = addLeg('agg', 'sub', 5000, { mode: 'aggregate' });
    keepalive(agg);
    const pub = addLeg('pub', 'pub', 4000);
    const pack = (i: number) => `[{"n":"${'z'.repeat(4_000)}${i}","v":${i}}]\u2028`;
    for (let i = 0; i < 100; i++)
      core.onDatagram(pub, plain(1 + i, new TextEncoder().encode(pack(i))), '127.0.0.1', 4000);
    expect(agg.window!.bytes).toBeLessThanOrEqual(65_536);
    expect(agg.window!.packs.length).toBeLessThan(100);
    expect(drops.get('queue-overflow')).toBeGreaterThan(0);
  });

  it('decoding states for publishers on other relays stay under MAX_REMOTE_SOURCES', () => {
    const { core, addLeg, keepalive } = setup();
    const mix = addLeg('mix', 'sub', 5000, { mode: 'mix' });
    keepalive(mix);
    const packet = plain(1, new TextEncoder().encode(line(1)));
    for (let i = 0; i < MAX_REMOTE_SOURCES + 500; i++)
      core.onShared('c', `remote-${i}`, packet, 1_000, { t140Pt: 98 });
    expect(core.remoteSourceCount).toBe(MAX_REMOTE_SOURCES);
  });
});
