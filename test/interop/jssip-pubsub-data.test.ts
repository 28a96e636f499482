// A browser-side SIP stack reads a topic without RTP: JsSIP (over SIP on WebSocket, RFC 7118) subscribes to
// the `pubsub-data` package of a conference with its own SUBSCRIBE/NOTIFY client, gets the retained value
// in the first NOTIFY and then a reading published over RTP by another UA, and unsubscribes.
import { type SenmlPack, SipPubSubClient } from '@sip-pubsub/client';
import { freePort } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded } from '../support/brokers.js';
import { installTextOnlyWebRtc, type NodeUa, startJsSipUa } from '../support/jssip-node.js';
import { token } from '../support/raw-sip.js';

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('JsSIP reads pubsub-data over WebSocket (embedded broker)', () => {
  let broker: RunningBroker;
  let wsPort: number;
  let jssip: NodeUa | undefined;
  let client: SipPubSubClient | undefined;

  beforeAll(async () => {
    installTextOnlyWebRtc();
    wsPort = await freePort('tcp');
    broker = await startEmbedded({ SIP_TRANSPORTS: 'udp,tcp,ws', SIP_WS_PORT: String(wsPort) });
  }, 60_000);
  afterAll(async () => {
    await jssip?.stop().catch(() => undefined);
    await client?.close().catch(() => undefined);
    await broker?.stop();
  });

  it('first NOTIFY holds the retained value, the next one a reading published over RTP', async () => {
    const topic = `interop/${token(3)}/browser`;
    client = await SipPubSubClient.connect({ server: `127.0.0.1:${broker.sipPort}`, user: 'rtp-sensor' });
    const publisher = await client.publisher(topic);
    const pack = (v: number): SenmlPack => [{ bn: 'urn:dev:browser:', n: 'temp', u: 'Cel', v }];
    await publisher.publish(pack(19));
    await new Promise((r) => setTimeout(r, 300)); // retained by the notifier

    jssip = await startJsSipUa('sip:browser@localhost', '127.0.0.1', wsPort);
    const notifications: { isFinal: boolean; body: string; contentType?: string; state: string }[] = [];
    const subscriber = jssip.ua.subscribe(publisher.conferenceUri, 'pubsub-data', 'application/senml+json', {
      expires: 600,
      contentType: 'application/senml+json',
    });
    const accepted = new Promise<void>((resolve) => subscriber.once('accepted', () => resolve()));
    subscriber.on('notify', (isFinal, request, body, contentType) =>
      notifications.push({
        isFinal,
        body: body ?? '',
        contentType,
        state: request.getHeader('Subscription-State'),
      }),
    );
    subscriber.subscribe();
    await accepted;
    await until(() => notifications.length >= 1, 'the first NOTIFY');
    expect(notifications[0].contentType).toBe('application/senml+json');
    expect(notifications[0].state).toMatch(/^active;expires=\d+/);
    expect(JSON.parse(notifications[0].body)).toMatchObject([{ n: 'urn:dev:browser:temp', u: 'Cel', v: 19 }]);
    // JsSIP's event client received the NOTIFY over its WebSocket.
    expect(jssip.socket.received.find((m) => m.startsWith('NOTIFY '))).toMatch(/\r\nEvent: pubsub-data/i);

    await publisher.publish(pack(20));
    await until(() => notifications.length >= 2, 'the NOTIFY with the live reading');
    expect(JSON.parse(notifications[1].body)).toMatchObject([{ n: 'urn:dev:browser:temp', v: 20 }]);

    const terminated = new Promise<number>((resolve) =>
      subscriber.once('terminated', (code) => resolve(code)),
    );
    subscriber.terminate();
    expect(await terminated).toBe(subscriber.C.FINAL_NOTIFY_RECEIVED);
    expect(notifications.at(-1)?.isFinal).toBe(true);
  }, 60_000);
});
