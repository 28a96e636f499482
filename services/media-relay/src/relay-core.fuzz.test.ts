// Whatever arrives on a relay's sockets or from another relay, the relay core neither throws nor sends
// anywhere but to the legs' own targets (a relay that crashed would drop every topic it serves).
import { serializeRtp, T140Sender } from '@sip-pubsub/media';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Leg, type LegOptions, RelayCore, type RelayCounters } from './relay.js';

const counters: RelayCounters = {
  publicationsIn: () => {},
  deliveriesOut: () => {},
  invalid: () => {},
  dropped: () => {},
  lost: () => {},
  latency: () => {},
  packetsIn: () => {},
};

function setup() {
  let now = 1_000;
  const core = new RelayCore({
    latching: false,
    maxPackBytes: 16_384,
    counters,
    share: () => {},
    now: () => now,
  });
  const sent: { host: string; port: number }[] = [];
  const send = (_d: Uint8Array, host: string, port: number) => sent.push({ host, port });
  const base: Omit<LegOptions, 'legId' | 'publishes' | 'subscribes' | 'remotePort' | 'mode'> = {
    conferenceId: 'c',
    remoteHost: '127.0.0.1',
    t140Pt: 98,
    redPt: 100,
    invalidData: 'drop',
  };
  const pub = new Leg(
    { ...base, legId: 'pub', publishes: true, subscribes: false, remotePort: 4000 },
    20_000,
    send,
  );
  core.addLeg(pub);
  for (const [i, mode] of (['translate', 'mix', 'aggregate'] as const).entries()) {
    core.addLeg(
      new Leg(
        {
          ...base,
          legId: `sub-${mode}`,
          publishes: false,
          subscribes: true,
          remotePort: 5000 + i,
          mode,
          aggregateWindowMs: 20,
        },
        20_001 + i,
        send,
      ),
    );
  }
  // Each subscriber gives media consent with a keep-alive from its negotiated address.
  for (const [i, mode] of (['translate', 'mix', 'aggregate'] as const).entries())
    core.onDatagram(core.getLeg(`sub-${mode}`)!, new Uint8Array(0), '127.0.0.1', 5000 + i);
  return { core, pub, sent, advance: (ms: number) => (now += ms) };
}

const valid = (() => {
  const sender = new T140Sender({ ssrc: 5, t140Pt: 98, redPt: 100 });
  return ['[{"n":"a","v":1}]\u2028', '[{"n":"b","v":2}]\u2028', 'x\u2028'].flatMap((t, i) =>
    sender.send(t, 1_000 + i * 10).map((p) => new Uint8Array(serializeRtp(p))),
  );
})();

const datagram = fc.oneof(
  fc.uint8Array({ maxLength: 120 }),
  // A valid packet with some bytes changed.
  fc
    .tuple(
      fc.constantFrom(...valid),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    )
    .map(([packet, edits]) => {
      const out = Uint8Array.from(packet);
      for (const [at, value] of edits) out[at % out.length] = value;
      return out;
    }),
);

describe('RelayCore under arbitrary input', () => {
  it('never throws on datagrams from a publisher or on packets shared by another relay, and only sends to leg targets', () => {
    fc.assert(
      fc.property(fc.array(datagram, { maxLength: 25 }), (packets) => {
        const { core, pub, sent, advance } = setup();
        for (const [i, p] of packets.entries()) {
          core.onDatagram(pub, p, '127.0.0.1', 4000);
          core.onShared('c', 'remote-leg', p, 1_000, { t140Pt: 98, redPt: 100 });
          advance(i % 3 === 0 ? 25 : 1);
          core.tick();
        }
        for (const s of sent) {
          expect(s.host).toBe('127.0.0.1');
          expect([5000, 5001, 5002]).toContain(s.port);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('control: the unmodified packets reach the translate, mix and aggregate legs', () => {
    const { core, pub, sent, advance } = setup();
    for (const p of valid) {
      core.onDatagram(pub, p, '127.0.0.1', 4000);
      advance(30);
      core.tick();
    }
    advance(400);
    core.tick();
    expect(new Set(sent.map((s) => s.port))).toEqual(new Set([5000, 5001, 5002]));
  });
});
