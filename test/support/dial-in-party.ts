// A raw dial-in participant for call-control tests (Replaces, Join, factory join, UPDATE): sends INVITE
// with an SDP offer and any extra headers, ACKs a 2xx, keeps media consent, answers (and keeps) the BYEs
// the focus sends, and sends in-dialog requests. Reads SIP with regular expressions like raw-sip.ts.
import * as dgram from 'node:dgram';
import { keepMediaConsent } from './media-consent.js';
import { type RawResponse, RawSipSocket, rawRequest, token } from './raw-sip.js';

const header = (text: string, name: string) =>
  new RegExp(`\r\n${name}: *([^\r\n]*)`, 'i').exec(text.split('\r\n\r\n')[0])?.[1];

export class DialInParty {
  readonly byes: string[] = [];
  readonly callId = token(10);
  readonly fromTag = token();
  toTag = '';
  /** The focus's Contact from the 2xx: where in-dialog requests go. */
  target = '';
  private cseq = 1;
  private stopConsent: (() => void) | undefined;

  private constructor(
    readonly sip: RawSipSocket,
    readonly rtp: dgram.Socket,
    readonly user: string,
  ) {
    sip.socket.on('message', (msg, rinfo) => {
      const text = msg.toString('utf8');
      if (!text.startsWith('BYE ')) return;
      this.byes.push(text);
      const head = text.split('\r\n\r\n')[0];
      const vias = [...head.matchAll(/\r\n(Via: [^\r\n]*)/gi)].map((m) => m[1]);
      sip.send(
        [
          'SIP/2.0 200 OK',
          ...vias,
          `From: ${header(text, 'From')}`,
          `To: ${header(text, 'To')}`,
          `Call-ID: ${header(text, 'Call-ID')}`,
          `CSeq: ${header(text, 'CSeq')}`,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
        rinfo.port,
        rinfo.address,
      );
    });
  }

  static async open(user = `caller-${token(3)}`): Promise<DialInParty> {
    const sip = await RawSipSocket.open();
    const rtp = dgram.createSocket('udp4');
    await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', r));
    return new DialInParty(sip, rtp, user);
  }

  offer(direction: string): string {
    return [
      'v=0',
      `o=${this.user} 1 1 IN IP4 127.0.0.1`,
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=text ${this.rtp.address().port} RTP/AVP 98`,
      'a=rtpmap:98 t140/1000',
      `a=${direction}`,
      '',
    ].join('\r\n');
  }

  /** The Replaces/Join value naming this party's dialog, as the focus sees it (to-tag = the focus's tag). */
  get dialogReference(): string {
    return `${this.callId};to-tag=${this.toTag};from-tag=${this.fromTag}`;
  }

  /** INVITE `uri` with an offer; a 2xx is ACKed and its media consent kept. */
  async invite(
    sipPort: number,
    uri: string,
    direction: string,
    headers: string[] = [],
  ): Promise<RawResponse> {
    const invite = rawRequest({
      method: 'INVITE',
      uri,
      localPort: this.sip.port,
      user: this.user,
      callId: this.callId,
      fromTag: this.fromTag,
      cseq: this.cseq,
      headers: [...headers, 'Content-Type: application/sdp'],
      body: this.offer(direction),
    });
    const res = await this.sip.request(invite, sipPort, 8_000);
    const toTag = /;tag=([^;\s>]+)/.exec(res.headers.get('to')?.[0] ?? '')?.[1] ?? '';
    if (res.status >= 200 && res.status < 300) {
      this.toTag = toTag;
      this.target = /<([^>]+)>/.exec(res.headers.get('contact')?.[0] ?? '')?.[1] ?? uri;
    }
    // §17.1.1.3 / §13.2.2.4: ACK every final response (a non-2xx one in the transaction, same branch).
    const branch = /branch=([^;\s]+)/.exec(invite)?.[1] ?? '';
    const ackUri = res.status < 300 ? this.target : uri;
    this.sip.send(
      [
        `ACK ${ackUri} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${this.sip.port};branch=${res.status < 300 ? `z9hG4bK${token()}` : branch};rport`,
        'Max-Forwards: 70',
        `From: <sip:${this.user}@127.0.0.1>;tag=${this.fromTag}`,
        `To: <${uri}>;tag=${toTag}`,
        `Call-ID: ${this.callId}`,
        `CSeq: ${this.cseq} ACK`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      sipPort,
    );
    this.cseq++;
    if (res.status >= 200 && res.status < 300) {
      const relay = {
        host: /\r\nc=IN IP4 ([^\r\n]+)/.exec(`\r\n${res.body}`)?.[1] ?? '127.0.0.1',
        port: Number(/\r\nm=text (\d+)/.exec(`\r\n${res.body}`)?.[1] ?? 0),
      };
      this.stopConsent?.();
      this.stopConsent = keepMediaConsent(this.rtp, relay);
    }
    return res;
  }

  /** A request inside the dialog (UPDATE, INFO, BYE …), with an optional body. */
  async inDialog(
    sipPort: number,
    method: string,
    opts: { body?: string; contentType?: string } = {},
  ): Promise<RawResponse> {
    const req = rawRequest({
      method,
      uri: this.target,
      localPort: this.sip.port,
      user: this.user,
      callId: this.callId,
      fromTag: this.fromTag,
      toTag: this.toTag,
      cseq: this.cseq++,
      headers: opts.contentType ? [`Content-Type: ${opts.contentType}`] : [],
      ...(opts.body ? { body: opts.body } : {}),
    });
    return this.sip.request(req, sipPort, 8_000);
  }

  close(): void {
    this.stopConsent?.();
    this.sip.close();
    this.rtp.close();
  }
}
