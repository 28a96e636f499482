// liblinphone (Debian's liblinphone-dev, an independent RFC 4103 real-time-text stack) as a strict peer:
// a C program built at test time (linphone/rtt-peer.c) registers nothing, calls the factory through the
// edge as outbound proxy, follows the 302 itself, joins with real-time text, exchanges SenML lines with the
// SDK and with a second liblinphone, and hangs up. SIP_DOMAIN does not resolve and the edge is on a random
// port, so its ACK and BYE reach the broker only along the Record-Route; its SDP names its own interface
// address while it sends from 127.0.0.1, which the relay's default symmetric RTP accepts.
import { SipPubSubClient } from '@sip-pubsub/client';
import { freePort } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { token } from '../support/raw-sip.js';
import { buildLinphonePeer, LinphonePeer } from './linphone/peer.js';

const DOMAIN = 'pubsub.invalid';
const T1_MS = 100;

/** Sum of a metric's series whose labels include `label` (all series without one). */
async function metric(port: number, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\d+)`, 'gm')))
    if ((m[1] ?? '').includes(label)) sum += Number(m[2]);
  return sum;
}

async function eventually(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function scenario(name: string, start: () => Promise<{ broker: RunningBroker; metricsPort: number }>) {
  describe(`liblinphone through the broker (${name})`, () => {
    let binary: string;
    let broker: RunningBroker;
    let metricsPort: number;
    const peers: LinphonePeer[] = [];
    const clients: SipPubSubClient[] = [];
    beforeAll(async () => {
      binary = buildLinphonePeer();
      ({ broker, metricsPort } = await start());
    }, 90_000);
    afterAll(async () => {
      for (const p of peers) await p.stop();
      for (const c of clients) await c.close();
      await broker?.stop();
    });

    const linphone = (
      user: string,
      target: string,
      subject?: string,
      role: 'publisher' | 'subscriber' | 'both' = 'both',
    ) => {
      const peer = new LinphonePeer(binary, {
        proxy: `127.0.0.1:${broker.sipPort}`,
        identity: `sip:${user}@${DOMAIN}`,
        target,
        subject,
        role,
      });
      peers.push(peer);
      return peer;
    };
    const sdk = async (user: string) => {
      const c = await SipPubSubClient.connect({
        server: `127.0.0.1:${broker.sipPort}`,
        domain: DOMAIN,
        user,
        requestTimeoutMs: 8_000,
      });
      clients.push(c);
      return c;
    };

    it('text both ways with the SDK; ACK and BYE reach the broker, the leg goes at once', async () => {
      const topic = `interop/linphone/${token(3)}`;
      const legsBefore = await metric(metricsPort, 'sip_pubsub_relay_legs');
      const lp = linphone('lp-a', `sip:factory@${DOMAIN}`, topic);
      // liblinphone follows the 302 to the conference URI and joins (text only, sendrecv: both roles).
      const contact = await lp.next('READY', () => true, 20_000);
      expect(contact).toMatch(new RegExp(`^<sip:conf-[a-z2-7]+@${DOMAIN.replace('.', '\\.')}>;isfocus$`));
      await eventually(
        'the liblinphone leg',
        async () => (await metric(metricsPort, 'sip_pubsub_relay_legs')) === legsBefore + 1,
      );

      const subscriber = await (await sdk('sdk-sub')).subscriber(topic);
      const atSdk: string[] = [];
      subscriber.on('pack', (_pack, meta) => atSdk.push(meta.line));
      const publisher = await (await sdk('sdk-pub')).publisher(topic);

      // liblinphone → SDK: typed character by character, RED-protected, line ended by U+2028.
      const fromLp = JSON.stringify([{ n: 'lp-a/temp', u: 'Cel', v: 21.5 }]);
      await new Promise((r) => setTimeout(r, 300));
      lp.send(fromLp);
      await eventually('liblinphone text at the SDK subscriber', () => atSdk.includes(fromLp));

      // SDK → liblinphone.
      const fromSdk = [{ n: 'sdk/hum', u: '%RH', v: 40 }];
      await publisher.publish(fromSdk);
      const line = await lp.next('RECV', (l) => l.includes('sdk/hum'), 10_000);
      expect(JSON.parse(line)).toEqual(fromSdk);

      // 64*T1 after the join: an unACKed 2xx would have been reported.
      await new Promise((r) => setTimeout(r, 64 * T1_MS));
      expect(broker.logs()).not.toContain('no ACK for 2xx');
      const legsWithAll = await metric(metricsPort, 'sip_pubsub_relay_legs');
      lp.hangUp();
      await lp.next('STATE', (s) => s.startsWith('LinphoneCallReleased'), 10_000);
      // Released by the BYE itself, not by a timeout (the silence timeout is 120 s).
      await eventually(
        'the leg released on BYE',
        async () => (await metric(metricsPort, 'sip_pubsub_relay_legs')) === legsWithAll - 1,
        3_000,
      );
      expect(await lp.exited).toBe(0);
      // Its SDP names its interface address while it sends from 127.0.0.1: symmetric RTP took it, nothing dropped.
      expect(
        await metric(metricsPort, 'sip_pubsub_relay_dropped_datagrams_total', 'reason="source-mismatch"'),
      ).toBe(0);
      expect(broker.logs()).not.toContain('no ACK for 2xx');
      await publisher.close();
      await subscriber.close();
    }, 60_000);

    it('text both ways between two liblinphones', async () => {
      const topic = `interop/linphone/${token(3)}`;
      const a = linphone('lp-a', `sip:factory@${DOMAIN}`, topic);
      const conference = (await a.next('READY', () => true, 20_000)).replace(/^<([^>]+)>.*$/, '$1');
      // The second one dials the conference URI it would have learnt from the directory.
      const b = linphone('lp-b', conference);
      await b.next('READY', () => true, 20_000);
      await new Promise((r) => setTimeout(r, 300));
      const ab = [{ n: 'a/x', v: 1 }];
      const ba = [{ n: 'b/y', v: 2 }];
      a.send(JSON.stringify(ab));
      expect(JSON.parse(await b.next('RECV', (l) => l.includes('a/x')))).toEqual(ab);
      b.send(JSON.stringify(ba));
      expect(JSON.parse(await a.next('RECV', (l) => l.includes('b/y')))).toEqual(ba);
      a.hangUp();
      b.hangUp();
      await a.next('STATE', (s) => s.startsWith('LinphoneCallReleased'), 10_000);
      await b.next('STATE', (s) => s.startsWith('LinphoneCallReleased'), 10_000);
      expect(broker.logs()).not.toContain('no ACK for 2xx');
    }, 60_000);

    it('as publisher and as subscriber: liblinphone to liblinphone and the SDK, the SDK to liblinphone', async () => {
      const topic = `interop/linphone/${token(3)}`;
      const sub = linphone('lp-sub', `sip:factory@${DOMAIN}`, topic, 'subscriber');
      // The answer a=sendonly reads to liblinphone as a hold: its streams run receive-only.
      await sub.next('STATE', (s) => s.startsWith('LinphoneCallPausedByRemote'), 20_000);
      await sub.next('READY');
      const pub = linphone('lp-pub', `sip:factory@${DOMAIN}`, topic, 'publisher');
      await pub.next('STATE', (s) => s.startsWith('LinphoneCallStreamsRunning'), 20_000);
      const sdkSub = await (await sdk('sdk-sub-2')).subscriber(topic);
      const atSdk: string[] = [];
      sdkSub.on('pack', (_p, meta) => atSdk.push(meta.line));
      await new Promise((r) => setTimeout(r, 300));
      const reading = [{ n: 'lp-pub/level', v: 3 }];
      pub.send(JSON.stringify(reading));
      expect(JSON.parse(await sub.next('RECV', (l) => l.includes('lp-pub/level')))).toEqual(reading);
      await eventually('the liblinphone publisher at the SDK', () => atSdk.includes(JSON.stringify(reading)));
      const sdkPub = await (await sdk('sdk-pub-2')).publisher(topic);
      await sdkPub.publish([{ n: 'sdk/level', v: 4 }]);
      // liblinphone keeps one receive state per stream, not per SSRC (RFC 3550 §8): when a second publisher's
      // packets arrive through the translating relay it sees a sequence jump and marks lost text with U+FFFD
      // (as RFC 4103 has a receiver mark a gap) before the new line. The text itself arrives whole.
      const fromSdk = await sub.next('RECV', (l) => l.includes('sdk/level'));
      expect(fromSdk).toMatch(/^\uFFFD?\[/);
      expect(JSON.parse(fromSdk.replace(/^\uFFFD/, ''))).toEqual([{ n: 'sdk/level', v: 4 }]);
      pub.hangUp();
      sub.hangUp();
      await pub.next('STATE', (s) => s.startsWith('LinphoneCallReleased'), 10_000);
      await sub.next('STATE', (s) => s.startsWith('LinphoneCallReleased'), 10_000);
      expect(broker.logs()).not.toContain('no ACK for 2xx');
      await sdkPub.close();
      await sdkSub.close();
    }, 60_000);
  });
}

scenario('embedded', async () => {
  const metricsPort = await freePort('tcp');
  const broker = await startEmbedded({
    SIP_DOMAIN: DOMAIN,
    SIP_T1_MS: String(T1_MS),
    HTTP_PORT: String(metricsPort),
  });
  return { broker, metricsPort };
});

scenario('separate processes', async () => {
  const broker = await startSeparateProcesses({ env: { SIP_DOMAIN: DOMAIN, SIP_T1_MS: String(T1_MS) } });
  const relay = broker.services?.find((s) => s.name === 'media-relay');
  if (!relay) throw new Error('no relay process');
  return { broker, metricsPort: relay.httpPort };
});
