// An independent user agent, written from PROFILE.md alone with SIP as text and RTP/RED as bytes built
// by hand (none of packages/sip, media or senml), creates a topic, joins as publisher and subscriber,
// watches the roster and receives SenML over T.140 with RED from the embedded broker.
import * as dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded } from '../support/brokers.js';
import { keepMediaConsent } from '../support/media-consent.js';
import { parseRawResponse, RawSipSocket, rawRequest, token } from '../support/raw-sip.js';

const RED_PT = 100;
const T140_PT = 98;
const LS = '\u2028';

function offer(direction: string, port: number): string {
  return [
    'v=0',
    `o=- ${Date.now()} 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=text ${port} RTP/AVP ${RED_PT} ${T140_PT}`,
    `a=rtpmap:${T140_PT} t140/1000`,
    `a=rtpmap:${RED_PT} red/1000`,
    `a=fmtp:${RED_PT} ${T140_PT}/${T140_PT}/${T140_PT}`,
    `a=${direction}`,
    '',
  ].join('\r\n');
}

/** RFC 2198 packet with two redundant generations (RFC 4103 §4), built byte by byte. */
function redPacket(
  seq: number,
  ts: number,
  ssrc: number,
  generations: { data: Buffer; ts: number }[],
  primary: Buffer,
  marker: boolean,
): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = (marker ? 0x80 : 0) | RED_PT;
  header.writeUInt16BE(seq & 0xffff, 2);
  header.writeUInt32BE(ts >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  const blockHeaders: Buffer[] = [];
  for (const g of generations) {
    const h = Buffer.alloc(4);
    const offset = ts - g.ts;
    h[0] = 0x80 | T140_PT;
    h.writeUInt16BE(((offset & 0x3fff) << 2) | ((g.data.length >> 8) & 0x03), 1);
    h[3] = g.data.length & 0xff;
    blockHeaders.push(h);
  }
  return Buffer.concat([
    header,
    ...blockHeaders,
    Buffer.from([T140_PT]),
    ...generations.map((g) => g.data),
    primary,
  ]);
}

/** Returns the primary block of a RED packet (or the payload of a plain T.140 packet). */
function primaryOf(packet: Buffer): { ssrc: number; text: string } {
  const cc = packet[0] & 0x0f;
  let offset = 12 + cc * 4;
  if (packet[0] & 0x10) offset += 4 + packet.readUInt16BE(offset + 2) * 4;
  const pt = packet[1] & 0x7f;
  const ssrc = packet.readUInt32BE(8);
  if (pt !== RED_PT) return { ssrc, text: packet.subarray(offset).toString('utf8') };
  let lengths = 0;
  let p = offset;
  while (packet[p] & 0x80) {
    lengths += ((packet[p + 2] & 0x03) << 8) | packet[p + 3];
    p += 4;
  }
  p += 1;
  return { ssrc, text: packet.subarray(p + lengths).toString('utf8') };
}

function sdpAddress(sdp: string): { host: string; port: number } {
  const host = /^c=IN IP4 (\S+)/m.exec(sdp)?.[1];
  const port = /^m=text (\d+) /m.exec(sdp)?.[1];
  if (!host || !port) throw new Error(`answer without c= or m=text: ${sdp}`);
  return { host, port: Number(port) };
}

function tagOf(header: string | undefined): string {
  const tag = /;tag=([^;>\s]+)/.exec(header ?? '')?.[1];
  if (!tag) throw new Error(`no tag in ${header}`);
  return tag;
}

describe('an independent UA against the embedded broker', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startEmbedded();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('creates a topic, watches it, publishes and receives SenML over T.140/RED', async () => {
    const sip = await RawSipSocket.open();
    const rtpIn = dgram.createSocket('udp4');
    const rtpOut = dgram.createSocket('udp4');
    await new Promise<void>((r) => rtpIn.bind(0, '127.0.0.1', r));
    await new Promise<void>((r) => rtpOut.bind(0, '127.0.0.1', r));
    const received: { ssrc: number; text: string }[] = [];
    rtpIn.on('message', (m) => received.push(primaryOf(m)));
    const port = broker.sipPort;
    try {
      // 1. Create the topic at the factory: 302 to the conference URI, then ACK the 302 (same branch).
      const topic = `interop/${token(3)}/humidity`;
      const create = rawRequest({
        method: 'INVITE',
        uri: 'sip:factory@localhost',
        localPort: sip.port,
        headers: [`Subject: ${topic}`],
      });
      const redirect = await sip.request(create, port);
      expect(redirect.status).toBe(302);
      const contact = redirect.headers.get('contact')![0];
      expect(contact).toMatch(/;isfocus/);
      const confUri = /<([^>]+)>/.exec(contact)![1];
      expect(confUri).toMatch(/^sip:conf-[a-z2-7]{16}@localhost$/);
      const branch = /branch=([^;\r\n]+)/.exec(create)![1];
      sip.send(
        [
          'ACK sip:factory@localhost SIP/2.0',
          `Via: SIP/2.0/UDP 127.0.0.1:${sip.port};branch=${branch};rport`,
          'Max-Forwards: 70',
          /\r\n(From: [^\r\n]+)/.exec(create)![1],
          `To: ${redirect.headers.get('to')![0]}`,
          /\r\n(Call-ID: [^\r\n]+)/.exec(create)![1],
          `CSeq: 1 ACK`,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
        port,
      );

      // 2. Watch the roster.
      const watchCall = token(10);
      const subscribed = await sip.request(
        rawRequest({
          method: 'SUBSCRIBE',
          uri: confUri,
          localPort: sip.port,
          callId: watchCall,
          user: 'watcher',
          headers: ['Event: conference', 'Expires: 600', 'Accept: application/conference-info+xml'],
        }),
        port,
      );
      expect(subscribed.status).toBe(200);
      const notifies: string[] = [];
      const answerNotify = async (): Promise<string> => {
        const text = await sip.next((m) => m.startsWith('NOTIFY ') && m.includes(watchCall));
        const headerLines = text.split('\r\n\r\n')[0].split('\r\n');
        const keep = headerLines.filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
        sip.send(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n'), port);
        notifies.push(text);
        return text;
      };
      const first = await answerNotify();
      expect(first).toMatch(/\r\nEvent: conference/);
      expect(first).toMatch(/\r\nSubscription-State: active/);
      expect(first).toContain('application/conference-info+xml');
      expect(first).toContain(`<subject>${topic}</subject>`);
      expect(first).toMatch(/state="full"/);

      // 3. Join as subscriber (recvonly) and as publisher (sendonly), each with its own dialog.
      const join = async (user: string, direction: string, rtpPort: number) => {
        const callId = token(10);
        const fromTag = token();
        const invite = rawRequest({
          method: 'INVITE',
          uri: confUri,
          localPort: sip.port,
          callId,
          fromTag,
          user,
          headers: ['Content-Type: application/sdp'],
          body: offer(direction, rtpPort),
        });
        const ok = await sip.request(invite, port);
        expect(ok.status, ok.raw).toBe(200);
        expect(ok.headers.get('contact')![0]).toMatch(/;isfocus/);
        const toTag = tagOf(ok.headers.get('to')![0]);
        sip.send(
          rawRequest({ method: 'ACK', uri: confUri, localPort: sip.port, callId, fromTag, toTag, user }),
          port,
        );
        return { callId, fromTag, toTag, answer: ok.body };
      };
      const sub = await join('subscriber-ua', 'recvonly', rtpIn.address().port);
      expect(sub.answer).toMatch(/^a=sendonly/m);
      // Media consent (README): the relay sends nothing until it hears from our RTP address, so a
      // receive-only UA sends an RFC 6263 keep-alive, here an empty datagram, from its RTP port.
      keepMediaConsent(rtpIn, sdpAddress(sub.answer));
      const pub = await join('publisher-ua', 'sendonly', rtpOut.address().port);
      expect(pub.answer).toMatch(/^a=recvonly/m);
      expect(pub.answer).toMatch(new RegExp(`^m=text \\d+ RTP/AVP ${RED_PT} ${T140_PT}`, 'm'));
      const relay = sdpAddress(pub.answer);

      // The watcher hears about both (partial NOTIFYs, versions counting up).
      while (!notifies.some((n) => n.includes('publisher-ua'))) await answerNotify();
      const versions = notifies.map((n) => Number(/version="(\d+)"/.exec(n)![1]));
      expect(versions).toEqual(versions.map((_, i) => versions[0] + i));
      expect(notifies.join('')).toContain('sip:subscriber-ua@127.0.0.1');

      // 4. Publish three SenML packs as T.140 lines with RED.
      const ssrc = 0x5eed1234;
      const lines = [1, 2, 3].map(
        (i) => `[{"bn":"urn:dev:hum-1:","n":"rh","u":"%RH","v":${40 + i},"t":${i}}]${LS}`,
      );
      const history: { data: Buffer; ts: number }[] = [
        { data: Buffer.alloc(0), ts: 0 },
        { data: Buffer.alloc(0), ts: 0 },
      ];
      let ts = 1000;
      lines.forEach((line, i) => {
        const data = Buffer.from(line, 'utf8');
        rtpOut.send(redPacket(100 + i, ts, ssrc, history.slice(-2), data, i === 0), relay.port, relay.host);
        history.push({ data, ts });
        ts += 300;
      });
      const deadline = Date.now() + 5_000;
      while (received.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(received.map((r) => r.ssrc)).toEqual([ssrc, ssrc, ssrc]);
      const packs = received
        .map((r) => r.text)
        .join('')
        .split(LS)
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      expect(packs.map((p) => p[0].v)).toEqual([41, 42, 43]);

      // 5. Leave and unsubscribe.
      for (const [user, d] of [
        ['publisher-ua', pub],
        ['subscriber-ua', sub],
      ] as const) {
        const bye = await sip.request(
          rawRequest({
            method: 'BYE',
            uri: confUri,
            localPort: sip.port,
            callId: d.callId,
            fromTag: d.fromTag,
            toTag: d.toTag,
            cseq: 2,
            user,
          }),
          port,
        );
        expect(bye.status).toBe(200);
      }
      const unsubscribe = rawRequest({
        method: 'SUBSCRIBE',
        uri: confUri,
        localPort: sip.port,
        callId: watchCall,
        fromTag: /;tag=([^\s;]+)/.exec(subscribed.headers.get('from')![0])![1],
        toTag: tagOf(subscribed.headers.get('to')![0]),
        cseq: 2,
        user: 'watcher',
        headers: ['Event: conference', 'Expires: 0'],
      });
      const ended = await sip.request(unsubscribe, port);
      expect(ended.status).toBe(200);
      let last = '';
      while (!/Subscription-State: terminated/.test(last)) last = await answerNotify();
      expect(last).toMatch(/Subscription-State: terminated;reason=timeout/);
    } finally {
      sip.close();
      rtpIn.close();
      rtpOut.close();
    }
  });

  it('answers bad input with the narrowest error and keeps serving', async () => {
    const sip = await RawSipSocket.open();
    const port = broker.sipPort;
    try {
      // Garbage is dropped (nothing to route a response to); a wrong version gets 505.
      sip.send('\x00\x01garbage\r\n\r\n', port);
      const wrongVersion = rawRequest({
        method: 'OPTIONS',
        uri: 'sip:factory@localhost',
        localPort: sip.port,
      }).replace('SIP/2.0\r\n', 'SIP/3.0\r\n');
      expect((await sip.request(wrongVersion, port)).status).toBe(505);

      const noSubject = await sip.request(
        rawRequest({ method: 'INVITE', uri: 'sip:factory@localhost', localPort: sip.port }),
        port,
      );
      expect(noSubject.status).toBe(400);
      expect(noSubject.reason).toMatch(/Subject/);

      const badTopic = await sip.request(
        rawRequest({
          method: 'INVITE',
          uri: 'sip:factory@localhost',
          localPort: sip.port,
          headers: ['Subject: a//b'],
        }),
        port,
      );
      expect(badTopic.status).toBe(400);
      expect(badTopic.reason).toMatch(/empty segment/);

      const created = await sip.request(
        rawRequest({
          method: 'INVITE',
          uri: 'sip:factory@localhost',
          localPort: sip.port,
          headers: [`Subject: bad-input/${token(3)}`],
        }),
        port,
      );
      const confUri = /<([^>]+)>/.exec(created.headers.get('contact')![0])![1];
      const audioOnly = [
        'v=0',
        'o=- 1 1 IN IP4 127.0.0.1',
        's=-',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        'm=audio 4000 RTP/AVP 0',
        'a=rtpmap:0 PCMU/8000',
        '',
      ].join('\r\n');
      const noText = await sip.request(
        rawRequest({
          method: 'INVITE',
          uri: confUri,
          localPort: sip.port,
          headers: ['Content-Type: application/sdp'],
          body: audioOnly,
        }),
        port,
      );
      expect(noText.status).toBe(488);
      expect(noText.headers.get('warning')?.[0]).toMatch(/^3\d\d \S+ ".*text.*"$/);

      const unknownConf = await sip.request(
        rawRequest({
          method: 'INVITE',
          uri: 'sip:conf-aaaaaaaaaaaaaaaa@localhost',
          localPort: sip.port,
          headers: ['Content-Type: application/sdp'],
          body: offer('sendonly', 9),
        }),
        port,
      );
      expect(unknownConf.status).toBe(404);

      const badPackage = await sip.request(
        rawRequest({ method: 'SUBSCRIBE', uri: confUri, localPort: sip.port, headers: ['Event: presence'] }),
        port,
      );
      expect(badPackage.status).toBe(489);
      expect(badPackage.headers.get('allow-events')?.[0]).toContain('conference');

      const tooBrief = await sip.request(
        rawRequest({
          method: 'SUBSCRIBE',
          uri: confUri,
          localPort: sip.port,
          headers: ['Event: conference', 'Expires: 5'],
        }),
        port,
      );
      expect(tooBrief.status).toBe(423);
      expect(tooBrief.headers.get('min-expires')?.[0]).toBe('60');

      // Still serving everyone.
      const options = await sip.request(
        rawRequest({ method: 'OPTIONS', uri: confUri, localPort: sip.port }),
        port,
      );
      expect(options.status).toBe(200);
      expect(options.headers.get('contact')![0]).toMatch(/;isfocus/);
      expect(options.headers.get('allow-events')![0]).toContain('conference');
      expect(parseRawResponse(options.raw).body).toMatch(/^m=text /m);
    } finally {
      sip.close();
    }
  });
});
