// The SDK's subscriber offers a=rtt-mixer (RFC 9071) and decodes the relay's mixed stream: one RTP stream
// with the relay's SSRC, each packet naming its publisher in the CSRC, redundancy per publisher.
import { SipPubSubClient } from '@sip-pubsub/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded } from '../support/brokers.js';
import { token } from '../support/raw-sip.js';

async function eventually(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('SDK in mix mode against the relay', () => {
  let broker: RunningBroker;
  const clients: SipPubSubClient[] = [];
  beforeAll(async () => {
    broker = await startEmbedded();
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.close();
    await broker?.stop();
  });
  const client = async (user: string) => {
    const c = await SipPubSubClient.connect({
      server: `127.0.0.1:${broker.sipPort}`,
      user,
      requestTimeoutMs: 8_000,
    });
    clients.push(c);
    return c;
  };

  it('receives two publishers in one mixed stream, each pack attributed to its publisher by CSRC', async () => {
    const topic = `e2e/mix/${token(3)}`;
    const mixed = await (await client('mix-sub')).subscriber(topic, { mixer: true });
    const plain = await (await client('plain-sub')).subscriber(topic);
    expect(mixed.mode).toBe('mix');
    expect(plain.mode).toBe('translate');
    const got: { ssrc: number; mixerSsrc?: number; v: unknown }[] = [];
    mixed.on('pack', (pack, meta) => {
      for (const r of pack) got.push({ ssrc: meta.ssrc, mixerSsrc: meta.mixerSsrc, v: r.v });
    });
    const plainGot: { ssrc: number; mixerSsrc?: number }[] = [];
    plain.on('pack', (_pack, meta) => plainGot.push({ ssrc: meta.ssrc, mixerSsrc: meta.mixerSsrc }));
    const p1 = await (await client('pub-1')).publisher(topic);
    const p2 = await (await client('pub-2')).publisher(topic);
    for (let i = 0; i < 3; i++) {
      await p1.publish([{ n: 'one', v: i }]);
      await p2.publish([{ n: 'two', v: 10 + i }]);
    }
    await eventually('six packs in the mixed stream', () => got.length >= 6);
    await eventually('six packs in the translated streams', () => plainGot.length >= 6);
    expect(got.filter((g) => g.ssrc === p1.ssrc).map((g) => g.v)).toEqual([0, 1, 2]);
    expect(got.filter((g) => g.ssrc === p2.ssrc).map((g) => g.v)).toEqual([10, 11, 12]);
    // One stream from the relay: one mixer SSRC, neither publisher's.
    const mixers = new Set(got.map((g) => g.mixerSsrc));
    expect(mixers.size).toBe(1);
    const [mixer] = mixers;
    expect(mixer).toBeTypeOf('number');
    expect([p1.ssrc, p2.ssrc]).not.toContain(mixer);
    // Translate mode keeps each publisher's own stream.
    expect(plainGot.every((g) => g.mixerSsrc === undefined)).toBe(true);
    expect(new Set(plainGot.map((g) => g.ssrc))).toEqual(new Set([p1.ssrc, p2.ssrc]));
  }, 60_000);
});
