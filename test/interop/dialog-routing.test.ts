// A UA that follows RFC 3261 §12.1.2 to the letter: in-dialog requests go to the route set taken from the
// 2xx's Record-Route (the remote target only when there is none). SIP_DOMAIN does not resolve (.invalid) and
// the edge is on a random port, so the ACK and the BYE reach the broker only if the edge Record-Routes itself.
import { freePort } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { parseRawResponse, type RawResponse, RawSipSocket, rawRequest, token } from '../support/raw-sip.js';

const DOMAIN = 'pubsub.invalid';
const T1_MS = 100;

function offer(port: number): string {
  return [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
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

/** §12.1.2 route set (Record-Route reversed) and the next hop its first entry names. */
function routeOf(res: RawResponse): { routes: string[]; host: string; port: number; target: string } {
  const routes = (res.headers.get('record-route') ?? []).flatMap((v) => v.split(/,\s*(?=<)/)).reverse();
  const top = /^<sip:([^:;>]+)(?::(\d+))?[^>]*>/.exec(routes[0] ?? '');
  if (!top) throw new Error(`no usable Record-Route in ${res.raw}`);
  const target = /<([^>]+)>/.exec(res.headers.get('contact')?.[0] ?? '')?.[1] ?? '';
  return { routes, host: top[1], port: Number(top[2] ?? 5060), target };
}

/** Removes what matches from the inbox; returns how many there were. */
async function drain(ua: RawSipSocket, match: (m: string) => boolean): Promise<number> {
  for (let n = 0; ; n++) {
    try {
      await ua.next(match, 50);
    } catch {
      return n;
    }
  }
}

const toTagOf = (res: RawResponse) => /;tag=([^;\s]+)/.exec(res.headers.get('to')?.[0] ?? '')?.[1] ?? '';

async function relayLegs(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const m = /^sip_pubsub_relay_legs(?:\{[^}]*\})? (\d+)/m.exec(text);
  if (!m) throw new Error('no sip_pubsub_relay_legs in /metrics');
  return Number(m[1]);
}

function scenario(name: string, start: () => Promise<{ broker: RunningBroker; metricsPort: number }>) {
  describe(`dialog routing through the edge (${name})`, () => {
    let broker: RunningBroker;
    let metricsPort: number;
    let ua: RawSipSocket;
    beforeAll(async () => {
      ({ broker, metricsPort } = await start());
      ua = await RawSipSocket.open();
    }, 60_000);
    afterAll(async () => {
      ua?.close();
      await broker?.stop();
    });

    it('INVITE dialog: the ACK and BYE sent along the Record-Route reach the broker', async () => {
      const callId = token(10);
      const fromTag = token();
      const created = await ua.request(
        rawRequest({
          method: 'INVITE',
          uri: `sip:factory@${DOMAIN}`,
          localPort: ua.port,
          callId,
          fromTag,
          headers: [`Subject: interop/route/${token()}`],
        }),
        broker.sipPort,
      );
      expect(created.status).toBe(302);
      const conf = /<([^>]+)>/.exec(created.headers.get('contact')?.[0] ?? '')?.[1] ?? '';
      expect(conf).toMatch(new RegExp(`^sip:conf-[a-z2-7]+@${DOMAIN.replace('.', '\\.')}$`));

      const inviteCallId = token(10);
      const ok = await ua.request(
        rawRequest({
          method: 'INVITE',
          uri: conf,
          localPort: ua.port,
          callId: inviteCallId,
          fromTag,
          headers: ['Content-Type: application/sdp'],
          body: offer(await freePort('udp')),
        }),
        broker.sipPort,
      );
      expect(ok.status).toBe(200);
      // The Contact stays the conference URI with isfocus (RFC 4579); the edge is named by Record-Route.
      expect(ok.headers.get('contact')?.[0]).toBe(`<${conf}>;isfocus`);
      const route = routeOf(ok);
      expect(route.routes).toEqual([`<sip:127.0.0.1:${broker.sipPort};transport=udp;lr>`]);
      expect(route.target).toBe(conf);
      expect(await relayLegs(metricsPort)).toBe(1);

      const inDialog = (method: string, cseq: number) =>
        rawRequest({
          method,
          uri: route.target,
          localPort: ua.port,
          callId: inviteCallId,
          fromTag,
          toTag: toTagOf(ok),
          cseq,
          headers: route.routes.map((r) => `Route: ${r}`),
        });
      ua.send(inDialog('ACK', 1), route.port, route.host);
      // Retransmissions already on their way when the ACK arrived are dropped; none may follow.
      const okAgain = (m: string) => m.startsWith('SIP/2.0 200') && m.includes(`Call-ID: ${inviteCallId}`);
      await new Promise((r) => setTimeout(r, 500));
      await drain(ua, okAgain);
      // 64*T1 and more: a 2xx the edge did not see ACKed would be retransmitted and reported by now.
      await new Promise((r) => setTimeout(r, 64 * T1_MS + 1_000));
      expect(broker.logs()).not.toContain('no ACK for 2xx');
      expect(await drain(ua, okAgain)).toBe(0);

      ua.send(inDialog('BYE', 2), route.port, route.host);
      const bye = parseRawResponse(
        await ua.next(
          (m) => m.startsWith('SIP/2.0 ') && m.includes(`Call-ID: ${inviteCallId}`) && m.includes('BYE'),
        ),
      );
      expect(bye.status).toBe(200);
      // Released at once, not by a timeout.
      expect(await relayLegs(metricsPort)).toBe(0);
      expect(broker.logs()).not.toContain('no ACK for 2xx');
    }, 30_000);

    it('subscription dialog: NOTIFY carries no Route naming the edge, refresh and end go along the route set', async () => {
      const created = await ua.request(
        rawRequest({
          method: 'INVITE',
          uri: `sip:factory@${DOMAIN}`,
          localPort: ua.port,
          headers: [`Subject: interop/route/${token()}`],
        }),
        broker.sipPort,
      );
      const conf = /<([^>]+)>/.exec(created.headers.get('contact')?.[0] ?? '')?.[1] ?? '';
      const callId = token(10);
      const fromTag = token();
      const ok = await ua.request(
        rawRequest({
          method: 'SUBSCRIBE',
          uri: conf,
          localPort: ua.port,
          callId,
          fromTag,
          headers: ['Event: conference', 'Expires: 600', 'Accept: application/conference-info+xml'],
        }),
        broker.sipPort,
      );
      expect(ok.status).toBe(200);
      const route = routeOf(ok);
      expect(route.routes).toEqual([`<sip:127.0.0.1:${broker.sipPort};transport=udp;lr>`]);
      const notify = await ua.next((m) => m.startsWith('NOTIFY ') && m.includes(`Call-ID: ${callId}`));
      expect(notify).not.toMatch(/\r\nRoute:/i);
      // Answered along the route set too: the edge is where the NOTIFY came from.
      const answerNotify = (text: string) => {
        const head = text.split('\r\n\r\n')[0].split('\r\n');
        const pick = (n: string) => head.filter((l) => l.toLowerCase().startsWith(`${n.toLowerCase()}:`));
        const reply = [
          'SIP/2.0 200 OK',
          ...['Via', 'From', 'To', 'Call-ID', 'CSeq'].flatMap(pick),
          'Content-Length: 0',
        ];
        ua.send(`${reply.join('\r\n')}\r\n\r\n`, route.port, route.host);
      };
      answerNotify(notify);
      const nextNotify = () => ua.next((m) => m.startsWith('NOTIFY ') && m.includes(`Call-ID: ${callId}`));
      const refresh = (cseqNo: number, expires: number) =>
        rawRequest({
          method: 'SUBSCRIBE',
          uri: route.target,
          localPort: ua.port,
          callId,
          fromTag,
          toTag: toTagOf(ok),
          cseq: cseqNo,
          headers: [...route.routes.map((r) => `Route: ${r}`), 'Event: conference', `Expires: ${expires}`],
        });
      const send = async (text: string) => {
        const cs = /\r\nCSeq: *([^\r\n]+)/i.exec(text)?.[1];
        ua.send(text, route.port, route.host);
        return parseRawResponse(
          await ua.next(
            (m) =>
              /^SIP\/2\.0 [2-6]/.test(m) && m.includes(`Call-ID: ${callId}`) && m.includes(`CSeq: ${cs}`),
          ),
        );
      };
      expect((await send(refresh(2, 600))).status).toBe(200);
      // RFC 6665 §4.2.1.4: a refresh is followed by a NOTIFY; that it came means the SUBSCRIBE reached the notifier.
      await drain(ua, (m) => m.includes(`Call-ID: ${callId}`) && m.includes('CSeq: 1 NOTIFY'));
      answerNotify(await nextNotify());
      expect((await send(refresh(3, 0))).status).toBe(200);
      let last = await nextNotify();
      while (!/Subscription-State: *terminated/i.test(last)) {
        answerNotify(last);
        last = await nextNotify();
      }
      answerNotify(last);
      expect(last).toMatch(/Subscription-State: *terminated/i);
    }, 30_000);
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
