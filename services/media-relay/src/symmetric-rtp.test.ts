// Symmetric RTP (RFC 4961) as the relay does it by default (issue 12): a leg latches once, on a datagram
// from its negotiated host or on RTP of its negotiated payload types from anywhere; it then sends only there,
// and only while that address keeps consent. Every dropped datagram is counted, the first one per leg reported.
import { serializeRtp, T140Sender } from '@sip-pubsub/media';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DropReason,
  Leg,
  type LegOptions,
  type ReceivedDrop,
  RelayCore,
  type RelayCounters,
} from './relay.js';

function setup(opts: { natTraversal?: boolean } = {}) {
  const now = 1_000;
  const drops = new Map<DropReason, number>();
  const reported: ReceivedDrop[] = [];
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
    latching: true,
    natTraversal: opts.natTraversal ?? true,
    onFirstDrop: (d) => reported.push(d),
    maxPackBytes: 16_384,
    counters,
    share: () => {},
    now: () => now,
    consentTimeoutMs: 30_000,
    maxLineLength: 16_384,
  });
  const sent: { legId: string; host: string; port: number }[] = [];
  const addLeg = (legId: string, role: 'pub' | 'sub', remoteHost: string, remotePort: number) => {
    const options: LegOptions = {
      conferenceId: 'c',
      legId,
      publishes: role === 'pub',
      subscribes: role === 'sub',
      remoteHost,
      remotePort,
      t140Pt: 98,
      redPt: 100,
      invalidData: 'drop',
      mode: 'translate',
      aggregateWindowMs: 1_000,
    };
    const leg = new Leg(options, 20_000 + remotePort, (_d, host, port) => sent.push({ legId, host, port }), {
      packetsPerSecond: 1_000_000,
      mixBufferMs: 300,
    });
    core.addLeg(leg);
    return leg;
  };
  const sender = new T140Sender({ ssrc: 7, t140Pt: 98, redPt: 100 });
  let ts = 0;
  const publication = (line: string) => {
    ts += 100;
    return sender.send(`${line}\u2028`, ts).map(serializeRtp);
  };
  const rtp = (payloadType: number) =>
    serializeRtp({
      version: 2,
      padding: false,
      extension: null,
      marker: false,
      payloadType,
      sequenceNumber: 1,
      timestamp: 0,
      ssrc: 9,
      csrcs: [],
      payload: new Uint8Array(0),
    });
  return { core, drops, reported, sent, addLeg, publication, rtp };
}

describe('symmetric RTP by default', () => {
  it('a multi-homed publisher whose SDP names another address is latched on its first T.140 packet', () => {
    const { core, addLeg, publication, sent, drops } = setup();
    // liblinphone's case: c= names the host's eth0 address, packets leave from 127.0.0.1.
    const pub = addLeg('pub', 'pub', '10.1.2.3', 5000);
    const sub = addLeg('sub', 'sub', '127.0.0.1', 6000);
    core.onDatagram(sub, new Uint8Array(0), '127.0.0.1', 6000);
    for (const p of publication('[{"n":"t","v":1}]')) core.onDatagram(pub, p, '127.0.0.1', 41_000);
    expect(pub.latched).toBe(true);
    expect(pub.target).toEqual({ host: '127.0.0.1', port: 41_000 });
    expect(sent.filter((s) => s.legId === 'sub').length).toBeGreaterThan(0);
    expect(drops.get('source-mismatch')).toBeUndefined();
  });

  it('keep-alives and unknown payload types from another host do not latch; after the latch the leg is taken', () => {
    const { core, addLeg, rtp, drops, reported, sent } = setup();
    const sub = addLeg('sub', 'sub', '10.1.2.3', 6000);
    core.onDatagram(sub, new Uint8Array(0), '192.0.2.66', 7000);
    core.onDatagram(sub, rtp(13), '192.0.2.66', 7000);
    expect(sub.latched).toBe(false);
    expect(core.hasConsent(sub)).toBe(false);
    expect(drops.get('keepalive')).toBe(1);
    expect(drops.get('unknown-pt')).toBe(1);
    // The first drop worth a log line names the negotiated and the seen address.
    expect(reported).toEqual([
      {
        conferenceId: 'c',
        legId: 'sub',
        reason: 'unknown-pt',
        negotiated: { host: '10.1.2.3', port: 6000 },
        seen: { host: '192.0.2.66', port: 7000 },
      },
    ]);
    core.onDatagram(sub, rtp(98), '127.0.0.1', 6100);
    expect(sub.target).toEqual({ host: '127.0.0.1', port: 6100 });
    expect(core.hasConsent(sub)).toBe(true);
    // Another source cannot move the latch or give consent for it.
    core.onDatagram(sub, rtp(98), '192.0.2.66', 7000);
    expect(sub.target).toEqual({ host: '127.0.0.1', port: 6100 });
    expect(drops.get('source-mismatch')).toBe(1);
    expect(reported).toHaveLength(1);
    expect(sent).toEqual([]);
  });

  it('a subscriber behind NAT is latched by its empty T.140 keep-alive, counted as a keep-alive, not logged', () => {
    const { core, addLeg, rtp, drops, reported } = setup();
    const sub = addLeg('sub', 'sub', '10.1.2.3', 6000);
    core.onDatagram(sub, rtp(98), '203.0.113.9', 61_000);
    expect(sub.target).toEqual({ host: '203.0.113.9', port: 61_000 });
    expect(core.hasConsent(sub)).toBe(true);
    expect(drops.get('keepalive')).toBe(1);
    expect(drops.get('not-publisher')).toBeUndefined();
    expect(reported).toEqual([]);
  });

  it('without NAT traversal only the negotiated host may latch', () => {
    const { core, addLeg, rtp, drops } = setup({ natTraversal: false });
    const pub = addLeg('pub', 'pub', '10.1.2.3', 5000);
    core.onDatagram(pub, rtp(98), '127.0.0.1', 5000);
    expect(pub.latched).toBe(false);
    expect(drops.get('source-mismatch')).toBe(1);
  });

  it('property: the relay sends a leg only to one address, and only one that sent it media or was negotiated', () => {
    const source = fc.record({
      host: fc.constantFrom('127.0.0.1', '10.1.2.3', '192.0.2.66'),
      port: fc.constantFrom(5000, 6000, 7000),
    });
    const datagram = fc.constantFrom('empty', 'pt13', 'pt98', 'pt100', 'rtcp');
    fc.assert(
      fc.property(fc.array(fc.tuple(source, datagram), { maxLength: 30 }), (events) => {
        const { core, addLeg, rtp, publication, sent } = setup();
        const sub = addLeg('sub', 'sub', '10.1.2.3', 6000);
        const pub = addLeg('pub', 'pub', '127.0.0.1', 5000);
        const mediaFrom = new Set<string>(['10.1.2.3']);
        for (const [from, kind] of events) {
          const bytes =
            kind === 'empty'
              ? new Uint8Array(0)
              : kind === 'rtcp'
                ? Uint8Array.from([0x80, 201, 0, 1, 0, 0, 0, 1])
                : rtp(kind === 'pt13' ? 13 : kind === 'pt98' ? 98 : 100);
          if (kind === 'pt98' || kind === 'pt100') mediaFrom.add(from.host);
          core.onDatagram(sub, bytes, from.host, from.port);
          for (const p of publication('[{"n":"x","v":1}]')) core.onDatagram(pub, p, '127.0.0.1', 5000);
        }
        const targets = new Set(sent.filter((s) => s.legId === 'sub').map((s) => `${s.host}:${s.port}`));
        expect(targets.size).toBeLessThanOrEqual(1);
        for (const t of targets) expect(mediaFrom.has(t.split(':')[0])).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
