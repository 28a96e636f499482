// A deliberately independent SIP peer for tests: builds requests as text and reads responses with
// regular expressions, so that what it checks does not depend on packages/sip.

import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';

export interface RawResponse {
  status: number;
  reason: string;
  headers: Map<string, string[]>;
  body: string;
  raw: string;
}

export function parseRawResponse(text: string): RawResponse {
  const [head, ...rest] = text.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const m = /^SIP\/2\.0 (\d{3}) (.*)$/.exec(lines[0]);
  if (!m) throw new Error(`not a SIP response: ${JSON.stringify(lines[0])}`);
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(i + 1).trim()]);
  }
  return { status: Number(m[1]), reason: m[2], headers, body: rest.join('\r\n\r\n'), raw: text };
}

export const token = (bytes = 6) => randomBytes(bytes).toString('hex');

/** A UDP socket that sends SIP text and collects what comes back. */
export class RawSipSocket {
  readonly socket = dgram.createSocket('udp4');
  private readonly inbox: string[] = [];
  private waiters: (() => void)[] = [];
  port = 0;

  static async open(): Promise<RawSipSocket> {
    const s = new RawSipSocket();
    await new Promise<void>((resolve) => s.socket.bind(0, '127.0.0.1', resolve));
    s.port = s.socket.address().port;
    s.socket.on('message', (msg) => {
      s.inbox.push(msg.toString('utf8'));
      for (const w of s.waiters.splice(0)) w();
    });
    return s;
  }

  send(text: string | Buffer, port: number, host = '127.0.0.1'): void {
    this.socket.send(typeof text === 'string' ? Buffer.from(text) : text, port, host);
  }

  /** Waits for a message matching `match`, removing it from the inbox. */
  async next(match: (text: string) => boolean, timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(match);
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no matching SIP message within ${timeoutMs} ms; inbox: ${JSON.stringify(this.inbox.map((m) => m.split('\r\n')[0]))}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends a request and waits for its final response (matching Call-ID and CSeq). */
  async request(text: string, port: number, timeoutMs = 5_000): Promise<RawResponse> {
    const callId = /\r\nCall-ID: *([^\r\n]+)/i.exec(text)?.[1];
    const cseq = /\r\nCSeq: *([^\r\n]+)/i.exec(text)?.[1];
    this.send(text, port);
    const reply = await this.next(
      (m) =>
        m.startsWith('SIP/2.0 ') &&
        !/^SIP\/2\.0 1\d\d /.test(m) &&
        m.includes(`Call-ID: ${callId}`) &&
        m.includes(`CSeq: ${cseq}`),
      timeoutMs,
    );
    return parseRawResponse(reply);
  }

  close(): void {
    this.socket.close();
  }
}

/** Builds a request; `Content-Length` is computed. */
export function rawRequest(opts: {
  method: string;
  uri: string;
  localPort: number;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  toTag?: string;
  headers?: string[];
  body?: string;
  user?: string;
}): string {
  const body = opts.body ?? '';
  const user = opts.user ?? 'raw';
  const lines = [
    `${opts.method} ${opts.uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${opts.localPort};branch=z9hG4bK${token()};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@127.0.0.1>;tag=${opts.fromTag ?? token()}`,
    `To: <${opts.uri.replace(/;.*$/, '')}>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
    `Call-ID: ${opts.callId ?? token(10)}`,
    `CSeq: ${opts.cseq ?? 1} ${opts.method}`,
    `Contact: <sip:${user}@127.0.0.1:${opts.localPort}>`,
    ...(opts.headers ?? []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return lines.join('\r\n');
}

/** A minimal T.140 `m=text` offer from 127.0.0.1 (no RED), `recvonly` unless told: a subscriber's. */
export function plainTextOffer(port: number, direction = 'recvonly'): string {
  return [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=text ${port} RTP/AVP 98`,
    'a=rtpmap:98 t140/1000',
    `a=${direction}`,
    '',
  ].join('\r\n');
}

/** The `tag` parameter of a From or To header value. */
export const tagOf = (value: string | undefined) => /;tag=([^;>\s]+)/.exec(value ?? '')?.[1];

/** The 200 a UAS sends to an in-dialog request it got (BYE, NOTIFY): same Vias, From, To, Call-ID, CSeq. */
export function okTo(request: string): string {
  const keep = request
    .split('\r\n\r\n')[0]
    .split('\r\n')
    .slice(1)
    .filter((l) => /^(Via|From|To|Call-ID|CSeq|v|f|t|i) *:/i.test(l));
  return ['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n');
}
