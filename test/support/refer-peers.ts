// Raw peers for REFER tests (RFC 3515, RFC 4579 §5.6/§5.11): a UAS the focus dials out to, which answers
// as told, and a referrer that sends REFER and answers (and keeps) the sipfrag NOTIFYs it is sent.
// Like raw-sip.ts they read SIP with regular expressions, independent of packages/sip.
import * as dgram from 'node:dgram';
import { keepMediaConsent } from './media-consent.js';
import { createTopic } from './raw-events.js';
import { RawSipSocket, rawRequest, token } from './raw-sip.js';

const header = (text: string, name: string) =>
  new RegExp(`\r\n${name}: *([^\r\n]*)`, 'i').exec(text.split('\r\n\r\n')[0])?.[1];

/** A 2xx (or other status) to `req`, echoing Via, From, To (with `toTag`), Call-ID and CSeq. */
function responseTo(req: string, status: string, toTag?: string, extra: string[] = [], body = ''): string {
  const head = req.split('\r\n\r\n')[0];
  const vias = [...head.matchAll(/\r\n(Via: [^\r\n]*)/gi)].map((m) => m[1]);
  const to = header(req, 'To') ?? '';
  return [
    `SIP/2.0 ${status}`,
    ...vias,
    ...[...head.matchAll(/\r\n(Record-Route: [^\r\n]*)/gi)].map((m) => m[1]),
    `From: ${header(req, 'From')}`,
    `To: ${toTag && !/;tag=/.test(to) ? `${to};tag=${toTag}` : to}`,
    `Call-ID: ${header(req, 'Call-ID')}`,
    `CSeq: ${header(req, 'CSeq')}`,
    ...extra,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

export type DialledBehaviour =
  | { answer: 'sendonly' | 'recvonly' | 'sendrecv' }
  | { reject: number; reason: string }
  | { silent: true }
  /** 180 Ringing, then the 200 (sendrecv) only when answerHeld() is called. */
  | { hold: true };

/** The party the focus dials out to: answers INVITE as told, 200s BYE, keeps media consent on a 2xx. */
export class DialledParty {
  readonly invites: string[] = [];
  readonly acks: string[] = [];
  readonly byes: string[] = [];
  readonly cancels: string[] = [];
  private stopConsent: (() => void) | undefined;

  private constructor(
    readonly sip: RawSipSocket,
    readonly rtp: dgram.Socket,
    private behaviour: DialledBehaviour,
    readonly user: string,
  ) {
    sip.socket.on('message', (msg, rinfo) => {
      const text = msg.toString('utf8');
      const reply = (t: string) => sip.send(t, rinfo.port, rinfo.address);
      if (text.startsWith('INVITE ')) {
        this.invites.push(text);
        const b = this.behaviour;
        if ('silent' in b) return;
        if ('reject' in b) return reply(responseTo(text, `${b.reject} ${b.reason}`, token()));
        if ('hold' in b) {
          const tag = token();
          reply(responseTo(text, '180 Ringing', tag));
          this.held = () => this.answer(text, 'sendrecv', tag, reply);
          return;
        }
        this.answer(text, b.answer, token(), reply);
      } else if (text.startsWith('ACK ')) this.acks.push(text);
      else if (text.startsWith('BYE ')) {
        this.byes.push(text);
        reply(responseTo(text, '200 OK'));
      } else if (text.startsWith('CANCEL ')) {
        this.cancels.push(text);
        reply(responseTo(text, '200 OK'));
      }
    });
  }

  private held: (() => void) | undefined;

  /** Answers the INVITE held by the `hold` behaviour. */
  answerHeld(): void {
    if (!this.held) throw new Error('no INVITE held');
    this.held();
    this.held = undefined;
  }

  private answer(text: string, direction: string, tag: string, reply: (t: string) => void): void {
    const relay = {
      host: /\r\nc=IN IP4 ([^\r\n]+)/.exec(text)?.[1] ?? '127.0.0.1',
      port: Number(/\r\nm=text (\d+)/.exec(text)?.[1] ?? 0),
    };
    const sdp = [
      'v=0',
      `o=${this.user} 1 1 IN IP4 127.0.0.1`,
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=text ${this.rtp.address().port} RTP/AVP 100 98`,
      'a=rtpmap:98 t140/1000',
      'a=rtpmap:100 red/1000',
      'a=fmtp:100 98/98/98',
      `a=${direction}`,
      '',
    ].join('\r\n');
    reply(
      responseTo(
        text,
        '200 OK',
        tag,
        [`Contact: <sip:${this.user}@127.0.0.1:${this.sip.port}>`, 'Content-Type: application/sdp'],
        sdp,
      ),
    );
    this.stopConsent?.();
    this.stopConsent = keepMediaConsent(this.rtp, relay);
  }

  static async open(behaviour: DialledBehaviour, user = `dialled-${token(3)}`): Promise<DialledParty> {
    const sip = await RawSipSocket.open();
    const rtp = dgram.createSocket('udp4');
    await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', r));
    return new DialledParty(sip, rtp, behaviour, user);
  }

  get uri(): string {
    return `sip:${this.user}@127.0.0.1:${this.sip.port}`;
  }

  /** Sends BYE in the dialog the focus opened (as the party hanging up). */
  async hangUp(sipPort: number): Promise<number> {
    const invite = this.invites.at(-1);
    if (!invite) throw new Error('no INVITE to hang up');
    const from = header(invite, 'From') ?? '';
    const ok = this.acks.at(-1);
    const to = ok ? (header(ok, 'To') ?? '') : '';
    const callId = header(invite, 'Call-ID');
    const focusUri = /<([^>]+)>/.exec(from)?.[1] ?? '';
    const bye = [
      `BYE ${focusUri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.sip.port};branch=z9hG4bK${token()};rport`,
      'Max-Forwards: 70',
      `From: ${to}`,
      `To: ${from}`,
      `Call-ID: ${callId}`,
      'CSeq: 1 BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    return (await this.sip.request(bye, sipPort)).status;
  }

  close(): void {
    this.stopConsent?.();
    this.sip.close();
    this.rtp.close();
  }
}

export interface ReferNotifyReceived {
  event: string;
  subscriptionState: string;
  contentType: string;
  body: string;
  cseq: number;
  callId: string;
  fromTag: string;
  toTag: string;
}

/** Sends REFERs from `user`, answers every NOTIFY 200 and keeps it. */
export class Referrer {
  readonly notifies: ReferNotifyReceived[] = [];

  private constructor(
    readonly sip: RawSipSocket,
    readonly user: string,
  ) {
    sip.socket.on('message', (msg, rinfo) => {
      const text = msg.toString('utf8');
      if (!text.startsWith('NOTIFY ')) return;
      sip.send(responseTo(text, '200 OK'), rinfo.port, rinfo.address);
      const tagOf = (v: string | undefined) => /;tag=([^;>\s]+)/.exec(v ?? '')?.[1] ?? '';
      this.notifies.push({
        event: header(text, 'Event') ?? '',
        subscriptionState: header(text, 'Subscription-State') ?? '',
        contentType: header(text, 'Content-Type') ?? '',
        body: text.split('\r\n\r\n').slice(1).join('\r\n\r\n'),
        cseq: Number(/^(\d+)/.exec(header(text, 'CSeq') ?? '')?.[1] ?? 0),
        callId: header(text, 'Call-ID') ?? '',
        fromTag: tagOf(header(text, 'From')),
        toTag: tagOf(header(text, 'To')),
      });
    });
  }

  static async open(user: string): Promise<Referrer> {
    return new Referrer(await RawSipSocket.open(), user);
  }

  /** Sends an out-of-dialog REFER; resolves with the status, the response headers and our From tag. */
  async refer(
    sipPort: number,
    conferenceUri: string,
    referTo: string,
    extra: string[] = [],
  ): Promise<{ status: number; headers: Map<string, string[]>; fromTag: string; callId: string }> {
    const fromTag = token();
    const callId = token(10);
    const res = await this.sip.request(
      rawRequest({
        method: 'REFER',
        uri: conferenceUri,
        localPort: this.sip.port,
        user: this.user,
        fromTag,
        callId,
        headers: [`Refer-To: ${referTo}`, ...extra],
      }),
      sipPort,
      8_000,
    );
    return { status: res.status, headers: res.headers, fromTag, callId };
  }

  close(): void {
    this.sip.close();
  }
}

/** Creates a topic as `user` (the creator is the From URI when authentication is off); its conference URI. */
export function createTopicAs(sipPort: number, topic: string, user: string): Promise<string> {
  return createTopic(sipPort, topic, user);
}

/** A `conference` package watcher (RFC 4575) that answers NOTIFYs and keeps their state and bodies. */
export class ConferenceWatcher {
  readonly notifies: { subscriptionState: string; body: string }[] = [];
  status = 0;

  private constructor(readonly sip: RawSipSocket) {
    sip.socket.on('message', (msg, rinfo) => {
      const text = msg.toString('utf8');
      if (!text.startsWith('NOTIFY ')) return;
      sip.send(responseTo(text, '200 OK'), rinfo.port, rinfo.address);
      this.notifies.push({
        subscriptionState: header(text, 'Subscription-State') ?? '',
        body: text.split('\r\n\r\n').slice(1).join('\r\n\r\n'),
      });
    });
  }

  static async subscribe(sipPort: number, conferenceUri: string, user: string): Promise<ConferenceWatcher> {
    const watcher = new ConferenceWatcher(await RawSipSocket.open());
    const res = await watcher.sip.request(
      rawRequest({
        method: 'SUBSCRIBE',
        uri: conferenceUri,
        localPort: watcher.sip.port,
        user,
        headers: ['Event: conference', 'Accept: application/conference-info+xml', 'Expires: 600'],
      }),
      sipPort,
      8_000,
    );
    watcher.status = res.status;
    return watcher;
  }

  /** The `<endpoint>`/`<user>` entities and states seen in all bodies so far, in order. */
  users(): { entity: string; state: string }[] {
    const out: { entity: string; state: string }[] = [];
    for (const n of this.notifies)
      for (const m of n.body.matchAll(/<user\b([^>]*)>/g)) {
        const entity = /entity="([^"]+)"/.exec(m[1])?.[1] ?? '';
        const state = /state="([^"]+)"/.exec(m[1])?.[1] ?? 'full';
        out.push({ entity, state });
      }
    return out;
  }

  close(): void {
    this.sip.close();
  }
}
