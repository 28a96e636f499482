// A second independent user agent: JsSIP (a widely used browser SIP stack) run in Node over SIP on
// WebSocket (RFC 7118) against the embedded broker with SIP_TRANSPORTS=udp,tcp,ws. JsSIP creates the
// topic at the factory (302), watches the roster with its own SUBSCRIBE/NOTIFY client (RFC 4575), and
// joins as subscriber and publisher with its own INVITE/ACK/BYE; the only stand-in is the SDP source
// (m=text cannot come from a WebRTC peer connection). RTP goes over UDP as the answers say.
import * as dgram from 'node:dgram';
import { once } from 'node:events';
import * as tls from 'node:tls';
import { freePort } from '@sip-pubsub/platform';
import JsSIP from 'jssip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded } from '../support/brokers.js';
import { installTextOnlyWebRtc, type NodeUa, nextOffer, startJsSipUa } from '../support/jssip-node.js';
import { keepMediaConsent } from '../support/media-consent.js';
import { rawRequest, token } from '../support/raw-sip.js';
import { type CertificateFiles, writeSelfSignedCertificate } from '../support/self-signed.js';

const RED_PT = 100;
const T140_PT = 98;
const LS = '\u2028';

function textOffer(direction: 'sendonly' | 'recvonly', port: number, withRed: boolean): string {
  const pts = withRed ? `${RED_PT} ${T140_PT}` : `${T140_PT}`;
  return [
    'v=0',
    `o=- ${Date.now()} 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=text ${port} RTP/AVP ${pts}`,
    `a=rtpmap:${T140_PT} t140/1000`,
    ...(withRed ? [`a=rtpmap:${RED_PT} red/1000`, `a=fmtp:${RED_PT} ${T140_PT}/${T140_PT}/${T140_PT}`] : []),
    `a=${direction}`,
    '',
  ].join('\r\n');
}

/** A plain T.140 RTP packet (RFC 4103 without redundancy), built by hand. */
function t140Packet(seq: number, ts: number, ssrc: number, text: string): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = 0x80 | T140_PT;
  header.writeUInt16BE(seq, 2);
  header.writeUInt32BE(ts, 4);
  header.writeUInt32BE(ssrc, 8);
  return Buffer.concat([header, Buffer.from(text, 'utf8')]);
}

function sdpAddress(sdp: string): { host: string; port: number } {
  const host = /^c=IN IP4 (\S+)/m.exec(sdp)?.[1];
  const port = /^m=text (\d+) /m.exec(sdp)?.[1];
  if (!host || !port) throw new Error(`answer without c= or m=text: ${sdp}`);
  return { host, port: Number(port) };
}

interface Notification {
  isFinal: boolean;
  body: string;
  contentType: string | undefined;
  subscriptionState: string;
}

/** Resolves with the JsSIP session once confirmed (2xx + ACK), rejects with the failure cause. */
function callConfirmed(session: JsSIP.RTCSession): Promise<JsSIP.RTCSession> {
  return new Promise((resolve, reject) => {
    session.once('confirmed', () => resolve(session));
    session.once('failed', (e: { cause: string; message?: { status_code?: number } }) =>
      reject(new Error(`call failed: ${e.cause} ${e.message?.status_code ?? ''}`)),
    );
  });
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('JsSIP over WebSocket against the embedded broker', () => {
  let broker: RunningBroker;
  let wsPort: number;
  const uas: NodeUa[] = [];

  beforeAll(async () => {
    installTextOnlyWebRtc();
    wsPort = await freePort('tcp');
    broker = await startEmbedded({ SIP_TRANSPORTS: 'udp,tcp,ws', SIP_WS_PORT: String(wsPort) });
  });
  afterAll(async () => {
    for (const ua of uas) await ua.stop().catch(() => undefined);
    await broker?.stop();
  });

  const ua = async (user: string): Promise<NodeUa> => {
    const started = await startJsSipUa(`sip:${user}@localhost`, '127.0.0.1', wsPort);
    uas.push(started);
    return started;
  };

  it('creates a topic, watches the roster, joins and receives a publication, all signalled by JsSIP', async () => {
    const topic = `interop/${token(3)}/ws-temp`;
    const rtpIn = dgram.createSocket('udp4');
    const rtpOut = dgram.createSocket('udp4');
    await new Promise<void>((r) => rtpIn.bind(0, '127.0.0.1', r));
    await new Promise<void>((r) => rtpOut.bind(0, '127.0.0.1', r));
    const received: Buffer[] = [];
    rtpIn.on('message', (m) => received.push(m));
    try {
      // 1. The factory redirects JsSIP's INVITE to the conference URI.
      const creator = await ua('creator');
      nextOffer(textOffer('sendonly', rtpOut.address().port, true));
      const redirected = await new Promise<{ cause: string; contact: string }>((resolve, reject) => {
        const session = creator.ua.call('sip:factory@localhost', {
          mediaConstraints: { audio: false, video: false },
          extraHeaders: [`Subject: ${topic}`],
        });
        session.once('confirmed', () =>
          reject(new Error('the factory accepted a call instead of redirecting')),
        );
        session.once(
          'failed',
          (e: { cause: string; message?: { status_code: number; getHeader(n: string): string } }) => {
            expect(e.message?.status_code).toBe(302);
            resolve({ cause: e.cause, contact: e.message?.getHeader('Contact') ?? '' });
          },
        );
      });
      expect(redirected.cause).toBe(JsSIP.C.causes.REDIRECTED);
      expect(redirected.contact).toMatch(/;isfocus/);
      const confUri = /<([^>]+)>/.exec(redirected.contact)?.[1] ?? '';
      expect(confUri).toMatch(/^sip:conf-[a-z2-7]{16,}@localhost$/);
      // The 302 reached JsSIP over its WebSocket, whose Via names the WS transport.
      const redirect = creator.socket.received.find((m) => m.startsWith('SIP/2.0 302'));
      expect(redirect).toMatch(/\r\nVia: SIP\/2\.0\/WS [^\r\n]*\.invalid/i);

      // 2. JsSIP's event client watches the roster.
      const watcher = await ua('watcher');
      const notifications: Notification[] = [];
      const subscriber = watcher.ua.subscribe(confUri, 'conference', 'application/conference-info+xml', {
        expires: 600,
        contentType: 'application/conference-info+xml',
      });
      const accepted = new Promise<void>((resolve) => subscriber.once('accepted', () => resolve()));
      subscriber.on('notify', (isFinal, request, body, contentType) => {
        notifications.push({
          isFinal,
          body: body ?? '',
          contentType,
          subscriptionState: request.getHeader('Subscription-State'),
        });
      });
      subscriber.subscribe();
      await accepted;
      await until(() => notifications.length >= 1, 'the first NOTIFY');
      const first = notifications[0];
      expect(first.isFinal).toBe(false);
      expect(first.subscriptionState).toMatch(/^active/);
      expect(first.contentType).toBe('application/conference-info+xml');
      expect(first.body).toMatch(/state="full"/);
      expect(first.body).toContain(`entity="${confUri}"`);
      expect(first.body).toContain(`<subject>${topic}</subject>`);

      // 3. A JsSIP UA joins as subscriber: its own INVITE/ACK, our m=text offer.
      const reader = await ua('reader');
      nextOffer(textOffer('recvonly', rtpIn.address().port, true));
      const readerCall = await callConfirmed(
        reader.ua.call(confUri, { mediaConstraints: { audio: false, video: false } }),
      );
      const readerAnswer = (readerCall.connection as unknown as { remoteDescription: { sdp: string } })
        .remoteDescription.sdp;
      expect(readerAnswer).toMatch(/^a=sendonly/m);
      // Media consent (README): the reader's RTP port tells the relay it wants the stream (RFC 6263 keep-alive).
      keepMediaConsent(rtpIn, sdpAddress(readerAnswer));
      await until(
        () => notifications.some((n) => n.body.includes('sip:reader@localhost')),
        'a NOTIFY naming the reader',
      );
      const readerJoined = notifications.find((n) => n.body.includes('sip:reader@localhost'))?.body ?? '';
      expect(readerJoined).toMatch(/state="partial"/);
      expect(readerJoined).toMatch(
        /<user entity="sip:reader@localhost" state="full">\s*<roles>\s*<entry>subscriber<\/entry>/,
      );
      // The focus learnt the reader's WebSocket contact (RFC 7118 §5: a .invalid host, transport=ws).
      expect(readerJoined).toMatch(/<endpoint entity="sip:[^"@]+@[^"]+\.invalid;transport=ws[^"]*">/);
      expect(readerJoined).toContain('<ps:subscriber-count>1</ps:subscriber-count>');
      // The NOTIFYs came over the watcher's WebSocket, with a Via naming that transport (RFC 7118 §5).
      const notifyOnWire = watcher.socket.received.find((m) => m.startsWith('NOTIFY '));
      expect(notifyOnWire).toMatch(/\r\nVia: SIP\/2\.0\/WS [^\r\n]*;branch=z9hG4bK/);

      // 4. Another JsSIP UA joins as publisher and sends one SenML pack over RTP to the relay it was given.
      const sensor = await ua('sensor');
      nextOffer(textOffer('sendonly', rtpOut.address().port, false));
      const sensorCall = await callConfirmed(
        sensor.ua.call(confUri, { mediaConstraints: { audio: false, video: false } }),
      );
      const sensorAnswer = (sensorCall.connection as unknown as { remoteDescription: { sdp: string } })
        .remoteDescription.sdp;
      expect(sensorAnswer).toMatch(/^a=recvonly/m);
      await until(
        () => notifications.some((n) => n.body.includes('sip:sensor@localhost')),
        'a NOTIFY naming the sensor',
      );
      expect(notifications.find((n) => n.body.includes('sip:sensor@localhost'))?.body).toContain(
        '<ps:publisher-count>1</ps:publisher-count>',
      );
      const relay = sdpAddress(sensorAnswer);
      const pack = `[{"bn":"urn:dev:ws-1:","n":"temp","u":"Cel","v":21.5}]${LS}`;
      rtpOut.send(t140Packet(1, 1000, 0x0a0b0c0d, pack), relay.port, relay.host);
      await until(
        () => received.some((p) => p.toString('utf8').includes('"v":21.5')),
        'the publication at the reader',
      );

      // Versions count up by one per NOTIFY on this subscription (RFC 4575 §4.5).
      const versions = notifications.map((n) => Number(/version="(\d+)"/.exec(n.body)?.[1]));
      expect(versions).toEqual(versions.map((_, i) => versions[0] + i));

      // 5. The reader leaves (JsSIP's BYE); the watcher hears of it.
      const before = notifications.length;
      const ended = new Promise<void>((resolve) => readerCall.once('ended', () => resolve()));
      readerCall.terminate();
      await ended;
      await until(
        () =>
          notifications
            .slice(before)
            .some((n) => n.body.includes('<user entity="sip:reader@localhost" state="deleted"/>')),
        'a NOTIFY saying the reader left',
      );

      // 6. Unsubscribe: JsSIP sends Expires: 0 and gets the final NOTIFY.
      const terminated = new Promise<number>((resolve) =>
        subscriber.once('terminated', (code) => resolve(code)),
      );
      subscriber.terminate();
      expect(await terminated).toBe(subscriber.C.FINAL_NOTIFY_RECEIVED);
      expect(notifications.at(-1)?.isFinal).toBe(true);
      expect(notifications.at(-1)?.subscriptionState).toMatch(/^terminated/);
      sensorCall.terminate();
    } finally {
      rtpIn.close();
      rtpOut.close();
    }
  });

  it('answers JsSIP OPTIONS over WebSocket', async () => {
    const prober = await ua('prober');
    const answer = await new Promise<{ status: number; allow: string }>((resolve, reject) => {
      prober.ua.sendOptions('sip:factory@localhost', null, {
        eventHandlers: {
          succeeded: (e: { response: { status_code: number; getHeader(n: string): string } }) =>
            resolve({ status: e.response.status_code, allow: e.response.getHeader('Allow') }),
          failed: (e: { cause: string }) => reject(new Error(`OPTIONS failed: ${e.cause}`)),
        },
      });
    });
    expect(answer.status).toBe(200);
    expect(answer.allow).toContain('SUBSCRIBE');
  });
});

/** A TLS client that writes SIP text and cuts what comes back into messages by Content-Length. */
class RawTlsSip {
  readonly messages: string[] = [];
  private pending = '';
  private constructor(readonly socket: tls.TLSSocket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.pending += chunk;
      for (;;) {
        const end = this.pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/\r\nContent-Length: *(\d+)/i.exec(this.pending.slice(0, end))?.[1] ?? 0);
        if (this.pending.length < end + 4 + length) return;
        this.messages.push(this.pending.slice(0, end + 4 + length));
        this.pending = this.pending.slice(end + 4 + length);
      }
    });
  }

  static async connect(port: number, ca: string): Promise<RawTlsSip> {
    const socket = tls.connect({ host: '127.0.0.1', port, ca });
    await once(socket, 'secureConnect');
    return new RawTlsSip(socket);
  }

  async next(match: (m: string) => boolean): Promise<string> {
    await until(() => this.messages.some(match), 'a SIP message over TLS');
    const i = this.messages.findIndex(match);
    return this.messages.splice(i, 1)[0];
  }
}

const overTls = (request: string): string =>
  request
    .replace(/^Via: SIP\/2\.0\/UDP /m, 'Via: SIP/2.0/TLS ')
    .replace(/^(Contact: <[^>]+)>/m, '$1;transport=tls>');

describe('TLS and WSS through the edge (certificate from SIP_TLS_CERT_FILE)', () => {
  let broker: RunningBroker;
  let certificate: CertificateFiles;
  let tlsPort: number;
  let wssPort: number;
  let wssUa: NodeUa | undefined;

  beforeAll(async () => {
    installTextOnlyWebRtc();
    certificate = writeSelfSignedCertificate();
    tlsPort = await freePort('tcp');
    wssPort = await freePort('tcp');
    broker = await startEmbedded({
      SIP_TRANSPORTS: 'udp,tls,wss',
      SIP_TLS_PORT: String(tlsPort),
      SIP_WSS_PORT: String(wssPort),
      SIP_TLS_CERT_FILE: certificate.certFile,
      SIP_TLS_KEY_FILE: certificate.keyFile,
    });
  });
  afterAll(async () => {
    await wssUa?.stop().catch(() => undefined);
    await broker?.stop();
    certificate?.remove();
  });

  it('a TLS client is redirected, subscribes, and gets its NOTIFY back over the same TLS connection', async () => {
    const client = await RawTlsSip.connect(tlsPort, certificate.cert);
    try {
      expect(client.socket.authorized).toBe(true);
      const topic = `interop/${token(3)}/tls`;
      const localPort = client.socket.localPort ?? 0;
      client.socket.write(
        overTls(
          rawRequest({
            method: 'INVITE',
            uri: 'sip:factory@localhost',
            localPort,
            headers: [`Subject: ${topic}`],
          }),
        ),
      );
      const redirect = await client.next((m) => m.startsWith('SIP/2.0 302'));
      expect(redirect).toMatch(/\r\nVia: SIP\/2\.0\/TLS 127\.0\.0\.1:\d+;branch=/);
      const confUri = /\r\nContact: *<([^>]+)>;isfocus/i.exec(redirect)?.[1] ?? '';
      expect(confUri).toMatch(/^sip:conf-/);

      const callId = token(10);
      client.socket.write(
        overTls(
          rawRequest({
            method: 'SUBSCRIBE',
            uri: confUri,
            localPort,
            callId,
            user: 'tls-watcher',
            headers: ['Event: conference', 'Expires: 600', 'Accept: application/conference-info+xml'],
          }),
        ),
      );
      const ok = await client.next((m) => m.startsWith('SIP/2.0 200') && m.includes(callId));
      expect(ok).toMatch(/\r\nCSeq: 1 SUBSCRIBE/);
      const notify = await client.next((m) => m.startsWith('NOTIFY ') && m.includes(callId));
      // The edge's own Via names the flow's transport (RFC 3261 §18.1.1).
      expect(notify).toMatch(/\r\nVia: SIP\/2\.0\/TLS [^\r\n]*;branch=z9hG4bK/);
      expect(notify).toContain(`<subject>${topic}</subject>`);
      const keep = notify
        .split('\r\n\r\n')[0]
        .split('\r\n')
        .filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
      client.socket.write(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n'));
    } finally {
      client.socket.destroy();
    }
  });

  it('JsSIP over WSS creates a topic and receives the roster NOTIFY over WSS', async () => {
    wssUa = await startJsSipUa('sip:secure-watcher@localhost', '127.0.0.1', wssPort, {
      ca: certificate.cert,
    });
    const topic = `interop/${token(3)}/wss`;
    nextOffer(textOffer('recvonly', 9, true));
    const contact = await new Promise<string>((resolve, reject) => {
      const session = wssUa!.ua.call('sip:factory@localhost', {
        mediaConstraints: { audio: false, video: false },
        extraHeaders: [`Subject: ${topic}`],
      });
      session.once('confirmed', () => reject(new Error('expected a redirect')));
      session.once('failed', (e: { message?: { getHeader(n: string): string } }) =>
        resolve(e.message?.getHeader('Contact') ?? ''),
      );
    });
    const confUri = /<([^>]+)>/.exec(contact)?.[1] ?? '';
    expect(confUri).toMatch(/^sip:conf-/);
    const bodies: string[] = [];
    const subscriber = wssUa.ua.subscribe(confUri, 'conference', 'application/conference-info+xml', {
      contentType: 'application/conference-info+xml',
    });
    subscriber.on('notify', (_final, _request, body) => bodies.push(body ?? ''));
    subscriber.subscribe();
    await until(() => bodies.length > 0, 'a NOTIFY over WSS');
    expect(bodies[0]).toContain(`<subject>${topic}</subject>`);
    const notifyOnWire = wssUa.socket.received.find((m) => m.startsWith('NOTIFY '));
    expect(notifyOnWire).toMatch(/\r\nVia: SIP\/2\.0\/WSS [^\r\n]*;branch=z9hG4bK/);
    subscriber.terminate();
  });
});
