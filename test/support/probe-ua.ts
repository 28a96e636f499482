// A raw SIP user agent for chaos tests: joins, leaves, subscribes and unsubscribes with hand-written
// requests (independent of packages/sip), answers the NOTIFYs and BYEs the broker sends, and times
// each request. Many requests may be outstanding at once; responses are matched by Call-ID and CSeq.
import * as dgram from 'node:dgram';
import { createTextOffer } from '@sip-pubsub/media';
import { parseRawResponse, type RawResponse, rawRequest, token } from './raw-sip.js';

export interface Timed {
  /** null: no final response within the timeout. */
  response: RawResponse | null;
  ms: number;
}

const header = (text: string, name: string): string | undefined =>
  new RegExp(`\r\n${name}: *([^\r\n]*)`, 'i').exec(text)?.[1];

export class ProbeUa {
  private readonly socket = dgram.createSocket('udp4');
  private readonly pending = new Map<string, (res: RawResponse) => void>();
  port = 0;
  /** NOTIFYs received (answered 200). */
  notifies = 0;
  /** When each NOTIFY arrived (Date.now()). */
  readonly notifyTimes: number[] = [];

  static async open(): Promise<ProbeUa> {
    const ua = new ProbeUa();
    await new Promise<void>((resolve) => ua.socket.bind(0, '127.0.0.1', resolve));
    ua.port = ua.socket.address().port;
    ua.socket.on('message', (msg, rinfo) => ua.receive(msg.toString('utf8'), rinfo.port));
    return ua;
  }

  private receive(text: string, fromPort: number): void {
    if (text.startsWith('SIP/2.0 ')) {
      let res: RawResponse;
      try {
        res = parseRawResponse(text);
      } catch {
        return;
      }
      if (res.status < 200) return;
      const key = `${header(text, 'Call-ID')}|${header(text, 'CSeq')}`;
      const resolve = this.pending.get(key);
      if (resolve) {
        this.pending.delete(key);
        resolve(res);
      }
      return;
    }
    const method = /^([A-Z]+) /.exec(text)?.[1];
    if (!method || method === 'ACK') return;
    if (method === 'NOTIFY') {
      this.notifies++;
      this.notifyTimes.push(Date.now());
    }
    // Answer every request from the broker (NOTIFY, BYE, OPTIONS) with a plain 200.
    const head = text.split('\r\n\r\n')[0].split('\r\n').slice(1);
    const keep = head.filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
    const to = keep.findIndex((l) => /^To:/i.test(l));
    if (to >= 0 && !/;tag=/.test(keep[to])) keep[to] = `${keep[to]};tag=${token()}`;
    this.send(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n'), fromPort);
  }

  send(text: string, port: number): void {
    this.socket.send(Buffer.from(text), port, '127.0.0.1');
  }

  /** Sends a request and resolves with its final response (null after `timeoutMs`) and the time taken. */
  request(text: string, port: number, timeoutMs = 5_000): Promise<Timed> {
    const key = `${header(text, 'Call-ID')}|${header(text, 'CSeq')}`;
    const started = performance.now();
    return new Promise<Timed>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        resolve({ response: null, ms: performance.now() - started });
      }, timeoutMs);
      this.pending.set(key, (response) => {
        clearTimeout(timer);
        resolve({ response, ms: performance.now() - started });
      });
      this.send(text, port);
    });
  }

  /** INVITE to the factory for `topic`; ACKs the redirect and returns the conference URI (or null). */
  async conference(sipPort: number, topic: string, timeoutMs = 5_000): Promise<string | null> {
    const invite = rawRequest({
      method: 'INVITE',
      uri: 'sip:factory@localhost',
      localPort: this.port,
      headers: [`Subject: ${topic}`],
    });
    const { response } = await this.request(invite, sipPort, timeoutMs);
    if (!response) return null;
    const via = header(invite, 'Via');
    this.send(
      [
        'ACK sip:factory@localhost SIP/2.0',
        `Via: ${via}`,
        'Max-Forwards: 70',
        `From: ${header(invite, 'From')}`,
        `To: ${response.headers.get('to')?.[0]}`,
        `Call-ID: ${header(invite, 'Call-ID')}`,
        'CSeq: 1 ACK',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      sipPort,
    );
    if (response.status !== 302) return null;
    return /<([^>]+)>/.exec(response.headers.get('contact')?.[0] ?? '')?.[1] ?? null;
  }

  /** A join (INVITE with a text offer), ACKed if 2xx; `leave` sends the BYE of that dialog. */
  async join(
    sipPort: number,
    conference: string,
    opts: { rtpPort?: number; direction?: 'sendonly' | 'recvonly'; timeoutMs?: number } = {},
  ): Promise<Timed & { leave?: () => Promise<Timed> }> {
    const callId = token(10);
    const fromTag = token();
    const timed = await this.request(
      rawRequest({
        method: 'INVITE',
        uri: conference,
        localPort: this.port,
        callId,
        fromTag,
        user: 'probe',
        headers: ['Content-Type: application/sdp'],
        body: createTextOffer({
          address: '127.0.0.1',
          port: opts.rtpPort ?? 9,
          direction: opts.direction ?? 'recvonly',
          t140Pt: 98,
          redPt: 100,
        }),
      }),
      sipPort,
      opts.timeoutMs,
    );
    const res = timed.response;
    if (!res || res.status < 200 || res.status >= 300) return timed;
    const toTag = /;tag=([^;\s]+)/.exec(res.headers.get('to')?.[0] ?? '')?.[1];
    const ack = (method: string, cseq: number) =>
      rawRequest({
        method,
        uri: conference,
        localPort: this.port,
        callId,
        fromTag,
        toTag,
        cseq,
        user: 'probe',
      });
    this.send(ack('ACK', 1), sipPort);
    return { ...timed, leave: () => this.request(ack('BYE', 2), sipPort, opts.timeoutMs) };
  }

  /** A SUBSCRIBE (Expires 600); `unsubscribe` sends Expires 0 in its dialog. */
  async subscribe(
    sipPort: number,
    uri: string,
    event = 'conference',
    timeoutMs = 5_000,
  ): Promise<Timed & { unsubscribe?: () => Promise<Timed> }> {
    const callId = token(10);
    const fromTag = token();
    const make = (cseq: number, expires: number, toTag?: string) =>
      rawRequest({
        method: 'SUBSCRIBE',
        uri,
        localPort: this.port,
        callId,
        fromTag,
        toTag,
        cseq,
        user: 'probe',
        headers: [`Event: ${event}`, `Expires: ${expires}`],
      });
    const timed = await this.request(make(1, 600), sipPort, timeoutMs);
    const res = timed.response;
    if (!res || res.status < 200 || res.status >= 300) return timed;
    const toTag = /;tag=([^;\s]+)/.exec(res.headers.get('to')?.[0] ?? '')?.[1];
    return { ...timed, unsubscribe: () => this.request(make(2, 0, toTag), sipPort, timeoutMs) };
  }

  close(): void {
    this.socket.close();
  }
}
