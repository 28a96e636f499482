// Issue 7, defect 8 (the SDP part): offers that used to throw a TypeError inside the focus (500) get
// 488 with a Warning naming the fault, and the broker keeps serving.
import { SipPubSubClient } from '@sip-pubsub/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded } from '../support/brokers.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';

function offer(lines: { c?: string; rtpmap: string[] }): string {
  return [
    'v=0',
    `o=- ${Date.now()} 1 IN IP4 127.0.0.1`,
    's=-',
    `c=IN IP4 ${lines.c ?? '127.0.0.1'}`,
    't=0 0',
    'm=text 40000 RTP/AVP 97 98',
    ...lines.rtpmap,
    'a=recvonly',
    '',
  ].join('\r\n');
}

describe('bad SDP offers at the wire (issue 7, defect 8)', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startEmbedded();
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it.each([
    [
      'a=rtpmap:97 123/1000 (a numeric codec name)',
      offer({ rtpmap: ['a=rtpmap:97 123/1000', 'a=rtpmap:98 123/1000'] }),
      /t140/,
    ],
    [
      'c=IN IP4 123 (not an IP address)',
      offer({ c: '123', rtpmap: ['a=rtpmap:98 t140/1000'] }),
      /not an IP address/,
    ],
  ])('%s gets 488 with a Warning naming the fault', async (_what, body, warning) => {
    const client = await SipPubSubClient.connect({
      server: `127.0.0.1:${broker.sipPort}`,
      requestTimeoutMs: 8_000,
    });
    const sip = await RawSipSocket.open();
    try {
      const confUri = await client.resolveTopic(`chaos/sdp/${token(3)}`);
      const res = await sip.request(
        rawRequest({
          method: 'INVITE',
          uri: confUri,
          localPort: sip.port,
          headers: ['Content-Type: application/sdp'],
          body,
        }),
        broker.sipPort,
        8_000,
      );
      console.log(
        `bad-sdp: ${_what} → ${res.status} ${res.reason}; Warning: ${res.headers.get('warning')?.[0]}`,
      );
      expect(res.status, res.raw).toBe(488);
      expect(res.headers.get('warning')?.[0]).toMatch(warning);
      // Still serving.
      const options = await sip.request(
        rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: sip.port }),
        broker.sipPort,
      );
      expect(options.status).toBe(200);
    } finally {
      sip.close();
      await client.close();
    }
  });
});
