// Issue 7, defect 4(d): ten INVITEs whose SDP names 127.0.0.7 join a topic with an active publisher as
// subscribers. The relay must send that address nothing (media consent, README "Media consent"), close
// the silent legs, and keep delivering to a real subscriber that sends keep-alives.
import * as dgram from 'node:dgram';
import { SipPubSubClient } from '@sip-pubsub/client';
import { GrpcClientPool, unary } from '@sip-pubsub/platform';
import { contracts, type MediaRelayClient, type StatsResponse__Output } from '@sip-pubsub/proto';
import type { SenmlPack } from '@sip-pubsub/senml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';

const VICTIM = '127.0.0.7';
const WINDOW_MS = 5_000;
// Longer than the SDK's 5 s keep-alive interval, short enough to watch the silent legs go.
const SILENCE_MS = 7_000;

function victimOffer(port: number): string {
  return [
    'v=0',
    `o=- ${Date.now()} 1 IN IP4 ${VICTIM}`,
    's=-',
    `c=IN IP4 ${VICTIM}`,
    't=0 0',
    `m=text ${port} RTP/AVP 100 98`,
    'a=rtpmap:98 t140/1000',
    'a=rtpmap:100 red/1000',
    'a=fmtp:100 98/98/98',
    'a=recvonly',
    '',
  ].join('\r\n');
}

describe('reflection through SDP (issue 7, defect 4(d))', () => {
  let broker: RunningBroker;
  const relayClients = new GrpcClientPool<MediaRelayClient>(contracts.MediaRelay);
  beforeAll(async () => {
    broker = await startSeparateProcesses({ env: { RELAY_LEG_SILENCE_TIMEOUT_MS: String(SILENCE_MS) } });
  }, 60_000);
  afterAll(async () => {
    relayClients.close();
    await broker?.stop();
  });

  it('sends nothing to an address that never consented, closes those legs, and still serves a real subscriber', async () => {
    const server = `127.0.0.1:${broker.sipPort}`;
    const pubClient = await SipPubSubClient.connect({ server, user: 'pub', requestTimeoutMs: 8_000 });
    const subClient = await SipPubSubClient.connect({ server, user: 'sub', requestTimeoutMs: 8_000 });
    const victim = dgram.createSocket('udp4');
    await new Promise<void>((r) => victim.bind(0, VICTIM, r));
    let reflected = 0;
    let reflectedBytes = 0;
    victim.on('message', (m) => {
      reflected += 1;
      reflectedBytes += m.length;
    });
    const sip = await RawSipSocket.open();
    let publishing: NodeJS.Timeout | undefined;
    try {
      const topic = `chaos/reflection/${token(3)}`;
      const publisher = await pubClient.publisher(topic);
      let v = 0;
      publishing = setInterval(() => void publisher.publish([{ n: 'r', v: v++ }]).catch(() => {}), 100);
      const subscriber = await subClient.subscriber(topic);
      const received: number[] = [];
      subscriber.on('pack', (pack: SenmlPack) => {
        for (const r of pack) if (typeof r.v === 'number') received.push(r.v);
      });

      const joinedAt = Date.now();
      // Ten joins, each an attacker's subscriber whose media address is the victim's.
      const confUri = await subClient.resolveTopic(topic);
      for (let i = 0; i < 10; i++) {
        const callId = token(10);
        const fromTag = token();
        const ok = await sip.request(
          rawRequest({
            method: 'INVITE',
            uri: confUri,
            localPort: sip.port,
            callId,
            fromTag,
            user: `reflector${i}`,
            headers: ['Content-Type: application/sdp'],
            body: victimOffer(victim.address().port),
          }),
          broker.sipPort,
          8_000,
        );
        expect(ok.status, ok.raw).toBe(200);
        const toTag = /;tag=([^;>\s]+)/.exec(ok.headers.get('to')?.[0] ?? '')?.[1];
        sip.send(
          rawRequest({
            method: 'ACK',
            uri: confUri,
            localPort: sip.port,
            callId,
            fromTag,
            toTag,
            user: `reflector${i}`,
          }),
          broker.sipPort,
        );
      }
      const relay = broker.services!.find((s) => s.name === 'media-relay')!;
      const stats = () =>
        unary<object, StatsResponse__Output>(relayClients.get(`127.0.0.1:${relay.grpcPort}`), 'Stats', {});
      const legsAfterJoins = (await stats()).legs;

      const startReflected = reflected;
      const startReceived = received.length;
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      const inWindow = reflected - startReflected;
      const deliveredInWindow = received.length - startReceived;
      // Within RELAY_LEG_SILENCE_TIMEOUT_MS (and a sweep) of their allocation the ten silent legs are closed.
      const closeBy = joinedAt + SILENCE_MS + 4_000;
      let legsAfterSilence = (await stats()).legs;
      while (legsAfterSilence > 2 && Date.now() < closeBy) {
        await new Promise((r) => setTimeout(r, 250));
        legsAfterSilence = (await stats()).legs;
      }
      const closedAfterMs = Date.now() - joinedAt;
      console.log(
        `reflection: ${inWindow} packets (${reflectedBytes} bytes in all, ${reflected} packets) reached ${VICTIM} in ${WINDOW_MS} ms ` +
          `from 10 INVITEs naming it; the keep-alive subscriber received ${deliveredInWindow} publications meanwhile; ` +
          `relay legs ${legsAfterJoins} after the joins, ${legsAfterSilence} ${closedAfterMs} ms later (silence timeout ${SILENCE_MS} ms)`,
      );
      expect(reflected).toBe(0);
      expect(deliveredInWindow).toBeGreaterThanOrEqual(20);
      expect(legsAfterJoins).toBe(12);
      expect(legsAfterSilence).toBe(2);
      // The real subscriber is still served after the silent legs went.
      const before = received.length;
      const deadline = Date.now() + 3_000;
      while (received.length < before + 3 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(received.length).toBeGreaterThanOrEqual(before + 3);
    } finally {
      if (publishing) clearInterval(publishing);
      sip.close();
      victim.close();
      await pubClient.close();
      await subClient.close();
    }
  });
});
