// JsSIP (a widely used browser SIP stack) over WebSocket (RFC 7118) drives a dial-out the RFC 4579 §5.6
// way: it joins a conference, sends REFER inside its own dialog (RTCSession.refer), and its ReferSubscriber
// reads our sipfrag NOTIFYs (RFC 3515): `trying` on "SIP/2.0 100 Trying", `accepted` on the final 200.
// The dialled party is a raw UDP UAS; the NOTIFYs reach JsSIP over its WebSocket connection.
import * as dgram from 'node:dgram';
import { freePort } from '@sip-pubsub/platform';
import type JsSIP from 'jssip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded } from '../support/brokers.js';
import { installTextOnlyWebRtc, type NodeUa, nextOffer, startJsSipUa } from '../support/jssip-node.js';
import { keepMediaConsent } from '../support/media-consent.js';
import { token } from '../support/raw-sip.js';
import { createTopicAs, DialledParty } from '../support/refer-peers.js';

function offer(port: number): string {
  return [
    'v=0',
    `o=- ${Date.now()} 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=text ${port} RTP/AVP 100 98`,
    'a=rtpmap:98 t140/1000',
    'a=rtpmap:100 red/1000',
    'a=fmtp:100 98/98/98',
    'a=recvonly',
    '',
  ].join('\r\n');
}

describe('JsSIP sends REFER in its conference dialog and follows the sipfrag NOTIFYs (embedded, WebSocket)', () => {
  let broker: RunningBroker;
  let wsPort: number;
  let jssip: NodeUa | undefined;
  beforeAll(async () => {
    installTextOnlyWebRtc();
    wsPort = await freePort('tcp');
    broker = await startEmbedded({ SIP_TRANSPORTS: 'udp,tcp,ws', SIP_WS_PORT: String(wsPort) });
  }, 60_000);
  afterAll(async () => {
    await jssip?.stop().catch(() => undefined);
    await broker?.stop();
  });

  it('trying, then accepted; the dialled party is ACKed', async () => {
    const conf = await createTopicAs(broker.sipPort, `jssip-refer/${token(3)}`, 'creator');
    const rtp = dgram.createSocket('udp4');
    await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', r));
    const party = await DialledParty.open({ answer: 'recvonly' });
    try {
      jssip = await startJsSipUa('sip:member@localhost', '127.0.0.1', wsPort);
      nextOffer(offer(rtp.address().port));
      const session = await new Promise<JsSIP.RTCSession>((resolve, reject) => {
        const s = jssip!.ua.call(conf, { mediaConstraints: { audio: false, video: false } });
        s.once('confirmed', () => resolve(s));
        s.once('failed', (e: { cause: string }) => reject(new Error(`join failed: ${e.cause}`)));
      });
      const answer = (session.connection as unknown as { remoteDescription: { sdp: string } })
        .remoteDescription.sdp;
      const relay = /^c=IN IP4 (\S+)/m.exec(answer)![1];
      keepMediaConsent(rtp, { host: relay, port: Number(/^m=text (\d+)/m.exec(answer)![1]) });

      const events: string[] = [];
      const finished = new Promise<{ status: number }>((resolve, reject) => {
        const subscriber = session.refer(party.uri, {
          eventHandlers: {
            requestSucceeded: () => events.push('202'),
            requestFailed: (e: { response?: { status_code: number } }) =>
              reject(new Error(`REFER refused ${e.response?.status_code}`)),
            trying: () => events.push('trying'),
            progress: () => events.push('progress'),
            accepted: (e: { status_line: { status_code: number } }) => {
              events.push('accepted');
              resolve({ status: e.status_line.status_code });
            },
            failed: (e: { status_line?: { status_code: number } }) =>
              reject(new Error(`dial-out failed ${e.status_line?.status_code}`)),
          },
        });
        expect(subscriber).toBeDefined();
      });
      expect((await finished).status).toBe(200);
      // RFC 6665 §4.1.2.4: the first NOTIFY may overtake the 202; the final one comes last.
      expect([...events].sort()).toEqual(['202', 'accepted', 'trying']);
      expect(events.at(-1)).toBe('accepted');
      expect(party.acks).toHaveLength(1);
      expect(party.invites[0]).toContain(`Contact: <${conf}>;isfocus`);
      // The NOTIFYs reached JsSIP over its WebSocket connection.
      const notifies = jssip.socket.received.filter((m) => m.startsWith('NOTIFY '));
      expect(notifies.map((m) => /\r\n\r\n(SIP\/2\.0 \d{3} [^\r\n]*)/.exec(m)?.[1])).toEqual([
        'SIP/2.0 100 Trying',
        'SIP/2.0 200 OK',
      ]);
      session.terminate();
    } finally {
      party.close();
      rtp.close();
    }
  }, 60_000);
});
