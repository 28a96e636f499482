// Relay failover (DESIGN.md "Failover"): two relay processes and a real nats-server. The relay that hosts
// a topic's legs is killed with SIGKILL; once its heartbeats expire the focus moves every participant to
// the surviving relay with a re-INVITE through the edge, and publications flow again to every subscriber.
import * as dgram from 'node:dgram';
import { type SenmlPack, SipPubSubClient } from '@sip-pubsub/client';
import { buildTextAnswer, createTextOffer, negotiateTextOffer } from '@sip-pubsub/media';
import { GrpcClientPool, unary } from '@sip-pubsub/platform';
import { contracts, type MediaRelayClient, type StatsResponse__Output } from '@sip-pubsub/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';
import { eventually } from './first-light.js';

async function eventuallyAsync<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs: number,
  logs: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs().slice(-20_000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A subscriber in raw SIP, to see the focus's re-INVITE and the edge's ACK on the wire. */
async function rawSubscriber(sipPort: number, topic: string, rtpPort: number) {
  const sip = await RawSipSocket.open();
  const factoryInvite = rawRequest({
    method: 'INVITE',
    uri: 'sip:factory@localhost',
    localPort: sip.port,
    headers: [`Subject: ${topic}`],
  });
  const redirect = await sip.request(factoryInvite, sipPort);
  // §17.1.1.3: the ACK for a non-2xx repeats the INVITE's Via (same transaction) and takes the To tag.
  const line = (text: string, name: string) => new RegExp(`\r\n(${name}: [^\r]*)`).exec(text)![1];
  sip.send(
    [
      'ACK sip:factory@localhost SIP/2.0',
      line(factoryInvite, 'Via'),
      'Max-Forwards: 70',
      line(factoryInvite, 'From'),
      line(redirect.raw, 'To'),
      line(factoryInvite, 'Call-ID'),
      `CSeq: ${/\r\nCSeq: (\d+)/.exec(factoryInvite)![1]} ACK`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    sipPort,
  );
  expect(redirect.status).toBe(302);
  const conference = /<([^>]+)>/.exec(redirect.headers.get('contact')![0])![1];
  const callId = token(10);
  const fromTag = token();
  const offer = createTextOffer({
    address: '127.0.0.1',
    port: rtpPort,
    direction: 'recvonly',
    t140Pt: 98,
    redPt: 100,
  });
  const ok = await sip.request(
    rawRequest({
      method: 'INVITE',
      uri: conference,
      localPort: sip.port,
      callId,
      fromTag,
      user: 'raw-sub',
      headers: ['Content-Type: application/sdp'],
      body: offer,
    }),
    sipPort,
  );
  expect(ok.status).toBe(200);
  const focusTag = /;tag=([^;\s]+)/.exec(ok.headers.get('to')![0])![1];
  sip.send(
    rawRequest({
      method: 'ACK',
      uri: conference,
      localPort: sip.port,
      callId,
      fromTag,
      toTag: focusTag,
      user: 'raw-sub',
    }),
    sipPort,
  );
  return { sip, callId, fromTag, focusTag };
}

/** The 200 a UAS sends to `request` (RFC 3261 §8.2.6): its Vias, From, To (with our tag), Call-ID and CSeq. */
function okTo(request: string, contact: string, body: string): string {
  const head = request.split('\r\n\r\n')[0].split('\r\n').slice(1);
  const keep = head.filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
  return [
    'SIP/2.0 200 OK',
    ...keep,
    `Contact: <${contact}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

describe('relay failover over two relay processes', () => {
  let broker: RunningBroker;
  const relayClients = new GrpcClientPool<MediaRelayClient>(contracts.MediaRelay);
  beforeAll(async () => {
    // LOG_LEVEL info: the focus's 'relay failover done' line tells when the moves are over.
    broker = await startSeparateProcesses({ relays: 2, env: { LOG_LEVEL: 'info' } });
  }, 60_000);
  afterAll(async () => {
    relayClients.close();
    await broker?.stop();
  });

  it('moves the legs of a killed relay to the survivor; publications before and after reach every subscriber', async () => {
    const server = `127.0.0.1:${broker.sipPort}`;
    const clients: SipPubSubClient[] = [];
    const client = async (user: string) => {
      const c = await SipPubSubClient.connect({ server, user, requestTimeoutMs: 8_000 });
      clients.push(c);
      return c;
    };
    const stats = (grpcPort: number) =>
      unary<object, StatsResponse__Output>(relayClients.get(`127.0.0.1:${grpcPort}`), 'Stats', {}, 2_000);
    const legsOf = (s: StatsResponse__Output) => s.topics.reduce((n, t) => n + t.legs, 0);
    const cleanups: (() => void)[] = [];
    try {
      const topic = 'plant-3/failover/pressure';
      const publisher = await (await client('pub')).publisher(topic);
      const received: number[][] = [];
      for (let i = 0; i < 3; i++) {
        const sub = await (await client(`sub-${i}`)).subscriber(topic);
        const values: number[] = [];
        sub.on('pack', (pack: SenmlPack) => {
          for (const r of pack) if (typeof r.v === 'number') values.push(r.v);
        });
        received.push(values);
      }
      const rtp = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => rtp.bind(0, '127.0.0.1', resolve));
      const raw = await rawSubscriber(broker.sipPort, topic, rtp.address().port);
      cleanups.push(() => {
        raw.sip.close();
        rtp.close();
      });

      // One topic under the spread threshold: all five legs on the first relay of its ranking.
      const relays = broker.services!.filter((s) => s.name === 'media-relay');
      const before = await Promise.all(relays.map((r) => stats(r.grpcPort)));
      const hosting = before.findIndex((s) => legsOf(s) > 0);
      expect(hosting).toBeGreaterThanOrEqual(0);
      expect(legsOf(before[hosting])).toBe(5);
      const victim = relays[hosting];
      const survivor = relays[1 - hosting];
      expect(legsOf(before[1 - hosting])).toBe(0);

      const early = Array.from({ length: 10 }, (_, i) => i);
      for (const v of early) {
        await publisher.publish([{ n: 'urn:dev:x:pressure', v }]);
        await new Promise((r) => setTimeout(r, 5));
      }
      for (const [i, values] of received.entries())
        await eventually(
          `publications before the failover at subscriber ${i}`,
          () => values.length >= early.length,
        );
      for (const values of received) expect(values).toEqual(early);

      await broker.kill!(victim.instanceId);
      // Heartbeats every 2 s, expiry after 3 missed; then the focus allocates and re-INVITEs.
      const reinvite = await raw.sip.next((m) => m.startsWith('INVITE ') && m.includes(raw.callId), 30_000);
      expect(reinvite).toMatch(/^INVITE sip:raw-sub@127\.0\.0\.1:\d+ SIP\/2\.0\r\n/);
      expect(reinvite).toMatch(new RegExp(`\r\nFrom: <sip:conf-[^>]+>;tag=${raw.focusTag}\r\n`));
      expect(reinvite).toMatch(new RegExp(`\r\nTo: <sip:raw-sub@127.0.0.1>;tag=${raw.fromTag}\r\n`));
      expect(reinvite).toMatch(/\r\nContact: <sip:conf-[^>]+>;isfocus\r\n/);
      const seq = /\r\nCSeq: (\d+) INVITE\r\n/.exec(reinvite)![1];
      const newOffer = reinvite.slice(reinvite.indexOf('\r\n\r\n') + 4);
      const moved = negotiateTextOffer(newOffer);
      expect(moved).toMatchObject({ direction: 'sendonly', t140Pt: 98, redPt: 100 });
      const contact = `sip:raw-sub@127.0.0.1:${raw.sip.port}`;
      const answer = buildTextAnswer(newOffer, moved, { address: '127.0.0.1', port: rtp.address().port });
      raw.sip.send(okTo(reinvite, contact, answer), broker.sipPort);
      // RFC 3261 §13.2.2.4: the edge, as UAC core, acknowledges the 2xx in the dialog with the same CSeq number.
      const ack = await raw.sip.next((m) => m.startsWith('ACK ') && m.includes(raw.callId), 10_000);
      expect(ack).toMatch(new RegExp(`^ACK ${contact.replace(/\./g, '\\.')} SIP/2\\.0\r\n`));
      expect(ack).toMatch(new RegExp(`\r\nCSeq: ${seq} ACK\r\n`));
      expect(ack).toMatch(new RegExp(`\r\nFrom: <sip:conf-[^>]+>;tag=${raw.focusTag}\r\n`));
      expect(ack).toMatch(new RegExp(`\r\nTo: <sip:raw-sub@127.0.0.1>;tag=${raw.fromTag}\r\n`));
      const inviteBranch = /\r\nVia: [^\r]*branch=([^;\r]+)/.exec(reinvite)![1];
      expect(ack).not.toContain(inviteBranch);

      await eventuallyAsync(
        'all five legs on the surviving relay',
        async () => legsOf(await stats(survivor.grpcPort)) === 5,
        30_000,
        broker.logs,
      );
      await eventuallyAsync(
        "the focus's failover summary",
        async () =>
          /relay failover done[^\n]*"moved":5|"moved":5[^\n]*relay failover done/.test(broker.logs()),
        30_000,
        broker.logs,
      );
      expect(broker.logs()).not.toMatch(/relay failover removed a participant/);

      const late = Array.from({ length: 10 }, (_, i) => 100 + i);
      for (const v of late) {
        await publisher.publish([{ n: 'urn:dev:x:pressure', v }]);
        await new Promise((r) => setTimeout(r, 5));
      }
      for (const [i, values] of received.entries())
        await eventually(
          `publications after the failover at subscriber ${i}`,
          () => values.length >= early.length + late.length,
        );
      await new Promise((r) => setTimeout(r, 300)); // a duplicate would have arrived by now
      for (const values of received) expect(values).toEqual([...early, ...late]);
    } finally {
      for (const cleanup of cleanups) cleanup();
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    }
  }, 90_000);
});
