// Independent peers for the chaos tests: SIP text over TCP, a whole participant's life over raw UDP
// (factory INVITE → 302 → ACK, join INVITE → 200 → ACK, BYE → 200), and the edge's metrics.
import * as net from 'node:net';
import {
  parseRawResponse,
  type RawResponse,
  type RawSipSocket,
  rawRequest,
  token,
} from '../support/raw-sip.js';

/** Sends one request over a fresh TCP connection and resolves with its final response. */
export function tcpRequest(
  port: number,
  build: (localPort: number) => string | Buffer,
  timeoutMs = 5_000,
  host = '127.0.0.1',
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no final response over TCP within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('connect', () => socket.write(build(socket.localPort ?? 0)));
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const text = buffered.toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/\r\n(?:Content-Length|l) *: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const message = buffered.subarray(0, end + 4 + length).toString('utf8');
        buffered = buffered.subarray(end + 4 + length);
        if (/^SIP\/2\.0 1\d\d /.test(message)) continue;
        clearTimeout(timer);
        socket.end();
        resolve(parseRawResponse(message));
        return;
      }
    });
  });
}

/** An OPTIONS to the factory with a TCP Via, as a TCP peer at `localPort` would send it. */
export function tcpOptions(localPort: number, extraHeaders: string[] = []): string {
  return rawRequest({
    method: 'OPTIONS',
    uri: 'sip:factory@localhost',
    localPort,
    headers: extraHeaders,
  }).replace('SIP/2.0/UDP', 'SIP/2.0/TCP');
}

export function textOffer(direction: string, port: number): string {
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
    `a=${direction}`,
    '',
  ].join('\r\n');
}

function tagOf(header: string | undefined): string | undefined {
  return /;tag=([^;>\s]+)/.exec(header ?? '')?.[1];
}

/**
 * A request over UDP as an RFC 3261 UAC sends it: retransmitted at T1 = 500 ms, doubling to T2 = 4 s
 * (Timers A/E), until its final response or `timeoutMs`.
 */
export async function udpRequest(
  sip: RawSipSocket,
  text: string,
  port: number,
  timeoutMs = 8_000,
): Promise<RawResponse> {
  const callId = /\r\nCall-ID: *([^\r\n]+)/i.exec(text)?.[1];
  const cseq = /\r\nCSeq: *([^\r\n]+)/i.exec(text)?.[1];
  const isFinal = (m: string) =>
    m.startsWith('SIP/2.0 ') &&
    !/^SIP\/2\.0 1\d\d /.test(m) &&
    m.includes(`Call-ID: ${callId}`) &&
    m.includes(`CSeq: ${cseq}`);
  const deadline = Date.now() + timeoutMs;
  let interval = 500;
  for (;;) {
    sip.send(text, port);
    const wait = Math.min(interval, deadline - Date.now());
    try {
      return parseRawResponse(await sip.next(isFinal, Math.max(1, wait)));
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    interval = Math.min(2 * interval, 4_000);
  }
}

/** Creates (or finds) a topic at the factory over UDP and ACKs the 302; resolves with the conference URI. */
export async function createTopic(sip: RawSipSocket, port: number, topic: string): Promise<string> {
  const create = rawRequest({
    method: 'INVITE',
    uri: 'sip:factory@localhost',
    localPort: sip.port,
    headers: [`Subject: ${topic}`],
  });
  const redirect = await sip.request(create, port);
  if (redirect.status !== 302) throw new Error(`factory INVITE got ${redirect.status} ${redirect.reason}`);
  sip.send(ackFor302(create, redirect), port);
  const confUri = /<([^>]+)>/.exec(redirect.headers.get('contact')?.[0] ?? '')?.[1];
  if (!confUri) throw new Error('302 without a conference Contact');
  return confUri;
}

/** §17.1.1.3: the ACK of a non-2xx final response reuses the INVITE's Via branch. */
function ackFor302(invite: string, redirect: RawResponse): string {
  const header = (name: string) => new RegExp(`\r\n(${name}: [^\r\n]+)`).exec(invite)?.[1];
  return [
    `ACK ${/^INVITE (\S+)/.exec(invite)?.[1]} SIP/2.0`,
    header('Via'),
    'Max-Forwards: 70',
    header('From'),
    `To: ${redirect.headers.get('to')?.[0]}`,
    header('Call-ID'),
    'CSeq: 1 ACK',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

export interface JoinOutcome {
  ok: boolean;
  /** The step that failed, with the status or error it got. */
  failure?: string;
  ms: number;
  /** The relay's address from the SDP answer (while the participant was in). */
  media?: { host: string; port: number };
}

/**
 * One participant's whole life over UDP: factory INVITE → 302 → ACK, join INVITE → 200 → ACK, then BYE → 200
 * unless `stay` is set (then the caller gets the dialog back to end it with `leave`).
 */
export async function joinAndLeave(
  sip: RawSipSocket,
  port: number,
  topic: string,
  opts: { user?: string; timeoutMs?: number; rtpPort?: number } = {},
): Promise<JoinOutcome> {
  const started = Date.now();
  const user = opts.user ?? `legit-${token(3)}`;
  const timeoutMs = opts.timeoutMs ?? 8_000;
  const callId = token(10);
  const fromTag = token();
  const fail = (failure: string): JoinOutcome => ({ ok: false, failure, ms: Date.now() - started });
  try {
    const create = rawRequest({
      method: 'INVITE',
      uri: 'sip:factory@localhost',
      localPort: sip.port,
      callId,
      fromTag,
      user,
      headers: [`Subject: ${topic}`],
    });
    const redirect = await udpRequest(sip, create, port, timeoutMs);
    if (redirect.status !== 302) return fail(`factory INVITE got ${redirect.status} ${redirect.reason}`);
    sip.send(ackFor302(create, redirect), port);
    const confUri = /<([^>]+)>/.exec(redirect.headers.get('contact')?.[0] ?? '')?.[1];
    if (!confUri) return fail('302 without a conference Contact');
    const ok = await udpRequest(
      sip,
      rawRequest({
        method: 'INVITE',
        uri: confUri,
        localPort: sip.port,
        callId,
        fromTag,
        cseq: 2,
        user,
        headers: ['Content-Type: application/sdp', `Subject: ${topic}`],
        body: textOffer('recvonly', opts.rtpPort ?? 9),
      }),
      port,
      timeoutMs,
    );
    if (ok.status !== 200) return fail(`join INVITE got ${ok.status} ${ok.reason}`);
    const toTag = tagOf(ok.headers.get('to')?.[0]);
    sip.send(
      rawRequest({ method: 'ACK', uri: confUri, localPort: sip.port, callId, fromTag, toTag, cseq: 2, user }),
      port,
    );
    const host = /^c=IN IP4 (\S+)/m.exec(ok.body)?.[1];
    const mediaPort = Number(/^m=text (\d+) /m.exec(ok.body)?.[1]);
    const media = host && mediaPort > 0 ? { host, port: mediaPort } : undefined;
    const bye = await udpRequest(
      sip,
      rawRequest({ method: 'BYE', uri: confUri, localPort: sip.port, callId, fromTag, toTag, cseq: 3, user }),
      port,
      timeoutMs,
    );
    if (bye.status !== 200) return fail(`BYE got ${bye.status} ${bye.reason}`);
    return { ok: true, ms: Date.now() - started, media };
  } catch (err) {
    return fail((err as Error).message.split('\n')[0].slice(0, 120));
  }
}

/** The value of one metric (summed over its label sets) from a Prometheus text page. */
export async function metricSum(httpPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
