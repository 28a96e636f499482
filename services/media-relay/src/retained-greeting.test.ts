// The late joiner's first pack: retained values from KV, overlaid with what raced the read, sent before the
// leg joins the core; one line from the relay's SSRC in the leg's payload types.
import { LineAssembler, parseRtp, serializeRtp, T140Receiver, T140Sender } from '@sip-pubsub/media';
import { InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { type RetainedValues, retainedKey, retainedValuesSchema } from '@sip-pubsub/proto';
import { describe, expect, it } from 'vitest';
import { Leg, type LegOptions } from './relay.js';
import { RetainedGreeter } from './retained-greeting.js';

const CONF = 'conf1';
const NOW = 1_700_000_000_000;

function subscriberLeg(sent: Uint8Array[], extra: Partial<LegOptions> = {}): Leg {
  return new Leg(
    {
      conferenceId: CONF,
      legId: 'sub',
      publishes: false,
      subscribes: true,
      remoteHost: '127.0.0.1',
      remotePort: 40000,
      t140Pt: 96,
      redPt: 97,
      invalidData: 'drop',
      ...extra,
    },
    20000,
    (data) => sent.push(data),
    { packetsPerSecond: 1000, mixBufferMs: 300, ssrc: 0xabcdef01 },
  );
}

function linesOf(packets: Uint8Array[], pts: { t140Pt: number; redPt?: number }): string[] {
  const rx = new T140Receiver(pts);
  const lines = new LineAssembler();
  return packets.flatMap((p) => lines.push(rx.receive(parseRtp(p)).text).lines);
}

async function setup(values: RetainedValues['values']) {
  const kv = new InProcessKvStore();
  const bucket = new JsonBucket(await kv.bucket('publications'), retainedValuesSchema);
  if (Object.keys(values).length > 0) await bucket.put(retainedKey(CONF), { values });
  return {
    bucket,
    greeter: new RetainedGreeter({
      retained: bucket,
      maxPackBytes: 16_384,
      deliver: sendNow,
      now: () => NOW,
    }),
  };
}

/** What the relay core does for a leg whose peer already consents: send at once. */
const sendNow = (leg: Leg, packets: Uint8Array[]) => {
  for (const p of packets) leg.send(p, leg.target.host, leg.target.port);
};

describe('RetainedGreeter', () => {
  it('sends the retained values as one pack from the relay SSRC, then joins the leg', async () => {
    const { greeter } = await setup({
      'urn:dev:a': { record: { n: 'urn:dev:a', t: 1, v: 1 }, receivedAt: NOW - 10 },
      'urn:dev:b': { record: { n: 'urn:dev:b', t: 2, vs: 'on' }, receivedAt: NOW - 5, publication: 'p1' },
      // Lapsed under RETAIN_TTL: not sent.
      'urn:dev:c': { record: { n: 'urn:dev:c', t: 0, v: 9 }, receivedAt: NOW - 99, expiresAt: NOW - 1 },
    });
    const sent: Uint8Array[] = [];
    const leg = subscriberLeg(sent);
    let sentAtJoin = -1;
    const count = await greeter.greet(leg, () => {
      sentAtJoin = sent.length;
    });
    expect(count).toBe(2);
    // Everything was on the wire before the leg joined live delivery.
    expect(sentAtJoin).toBe(sent.length);
    // RED with two generations: the text and two redundancy-only packets, all from the relay's SSRC.
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((p) => parseRtp(p).ssrc))).toEqual(new Set([0xabcdef01]));
    expect(parseRtp(sent[0]).payloadType).toBe(97);
    const lines = linesOf(sent, { t140Pt: 96, redPt: 97 });
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      [
        { n: 'urn:dev:a', t: 1, v: 1 },
        { n: 'urn:dev:b', t: 2, vs: 'on' },
      ],
    ]);
  });

  it('overlays a record that raced the KV read, so it is in the pack once and newest', async () => {
    const { bucket } = await setup({
      'urn:dev:a': { record: { n: 'urn:dev:a', t: 1, v: 1 }, receivedAt: NOW - 10 },
    });
    // A KV read that lets a live packet in before it answers.
    let greeter!: RetainedGreeter;
    const racing = {
      get: async (key: string) => {
        const publisher = new T140Sender({ ssrc: 5, t140Pt: 100 });
        for (const p of publisher.send('[{"n":"urn:dev:a","v":2}]\u2028', NOW))
          greeter.observe(CONF, 'pub-leg', serializeRtp(p), { t140Pt: 100 });
        return bucket.get(key);
      },
    } as unknown as JsonBucket<RetainedValues>;
    greeter = new RetainedGreeter({
      retained: racing,
      maxPackBytes: 16_384,
      deliver: sendNow,
      now: () => NOW,
    });
    const sent: Uint8Array[] = [];
    await greeter.greet(subscriberLeg(sent, { redPt: 0 }), () => undefined);
    const lines = linesOf(sent, { t140Pt: 96 });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toEqual([{ n: 'urn:dev:a', v: 2, t: NOW / 1000 }]);
  });

  it('sends nothing when nothing is retained, and a publisher-only leg joins at once', async () => {
    const { greeter } = await setup({});
    const sent: Uint8Array[] = [];
    let joined = 0;
    expect(await greeter.greet(subscriberLeg(sent), () => joined++)).toBe(0);
    expect(
      await greeter.greet(subscriberLeg(sent, { subscribes: false, publishes: true }), () => joined++),
    ).toBe(0);
    expect(sent).toHaveLength(0);
    expect(joined).toBe(2);
  });

  it('a mix leg gets the pack in its own mixed stream', async () => {
    const { greeter } = await setup({
      'urn:dev:a': { record: { n: 'urn:dev:a', t: 1, v: 1 }, receivedAt: NOW - 10 },
    });
    const sent: Uint8Array[] = [];
    const leg = subscriberLeg(sent, { mode: 'mix', redPt: 0 });
    await greeter.greet(leg, () => undefined);
    expect(sent.length).toBeGreaterThan(0);
    expect(parseRtp(sent[0]).ssrc).toBe(leg.ssrc);
    expect(linesOf(sent, { t140Pt: 96 }).map((l) => JSON.parse(l))).toEqual([
      [{ n: 'urn:dev:a', t: 1, v: 1 }],
    ]);
  });
});
