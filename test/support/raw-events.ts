// Raw-SIP peers for event state tests: a PUBLISH client and a pubsub-data watcher that answers every NOTIFY
// with 200 and keeps the bodies, written as text so what they check does not depend on packages/sip.
import { RawSipSocket, rawRequest, token } from './raw-sip.js';

export interface RawPublishResult {
  status: number;
  reason: string;
  etag?: string;
  expires?: string;
  headers: Map<string, string[]>;
}

/** Sends PUBLISHes from one socket (one Call-ID, rising CSeq, as RFC 3903 §4 suggests). */
export class RawPublisher {
  private cseq = 1;
  private readonly callId = token(10);

  private constructor(
    readonly sip: RawSipSocket,
    private readonly sipPort: number,
    private readonly uri: string,
    private readonly user: string,
  ) {}

  static async open(sipPort: number, uri: string, user = 'raw-pub'): Promise<RawPublisher> {
    return new RawPublisher(await RawSipSocket.open(), sipPort, uri, user);
  }

  async publish(opts: {
    body?: string;
    contentType?: string;
    ifMatch?: string;
    expires?: number;
    event?: string;
  }): Promise<RawPublishResult> {
    const headers = [`Event: ${opts.event ?? 'pubsub-data'}`];
    if (opts.expires !== undefined) headers.push(`Expires: ${opts.expires}`);
    if (opts.ifMatch !== undefined) headers.push(`SIP-If-Match: ${opts.ifMatch}`);
    if (opts.body !== undefined)
      headers.push(`Content-Type: ${opts.contentType ?? 'application/senml+json'}`);
    const res = await this.sip.request(
      rawRequest({
        method: 'PUBLISH',
        uri: this.uri,
        localPort: this.sip.port,
        callId: this.callId,
        cseq: this.cseq++,
        user: this.user,
        headers,
        body: opts.body,
      }),
      this.sipPort,
      8_000,
    );
    return {
      status: res.status,
      reason: res.reason,
      etag: res.headers.get('sip-etag')?.[0],
      expires: res.headers.get('expires')?.[0],
      headers: res.headers,
    };
  }

  close(): void {
    this.sip.close();
  }
}

export interface RawNotify {
  /** The Event header, with its id parameter. */
  event?: string;
  /** The NOTIFY's header block, as received. */
  head: string;
  subscriptionState: string;
  contentType?: string;
  body: string;
}

/** A SUBSCRIBE dialog whose NOTIFYs are answered 200 and collected. */
export class RawEventWatcher {
  readonly notifies: RawNotify[] = [];
  status = 0;
  headers = new Map<string, string[]>();

  private constructor(readonly sip: RawSipSocket) {
    sip.socket.on('message', (msg, rinfo) => {
      const text = msg.toString('utf8');
      if (!text.startsWith('NOTIFY ')) return;
      const [head, ...rest] = text.split('\r\n\r\n');
      const header = (name: string) => new RegExp(`\r\n${name}: *([^\r\n]*)`, 'i').exec(head)?.[1];
      const vias = [...head.matchAll(/\r\n(Via: [^\r\n]*)/gi)].map((m) => m[1]);
      sip.send(
        [
          'SIP/2.0 200 OK',
          ...vias,
          `From: ${header('From')}`,
          `To: ${header('To')}`,
          `Call-ID: ${header('Call-ID')}`,
          `CSeq: ${header('CSeq')}`,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
        rinfo.port,
        rinfo.address,
      );
      this.notifies.push({
        event: header('Event'),
        head,
        subscriptionState: header('Subscription-State') ?? '',
        contentType: header('Content-Type'),
        body: rest.join('\r\n\r\n'),
      });
    });
  }

  static async subscribe(
    sipPort: number,
    uri: string,
    opts: { expires?: number; subject?: string; user?: string; event?: string; accept?: string } = {},
  ): Promise<RawEventWatcher> {
    const sip = await RawSipSocket.open();
    const watcher = new RawEventWatcher(sip);
    const headers = [
      `Event: ${opts.event ?? 'pubsub-data'}`,
      `Accept: ${opts.accept ?? 'application/senml+json'}`,
    ];
    if (opts.expires !== undefined) headers.push(`Expires: ${opts.expires}`);
    if (opts.subject !== undefined) headers.push(`Subject: ${opts.subject}`);
    const res = await sip.request(
      rawRequest({
        method: 'SUBSCRIBE',
        uri,
        localPort: sip.port,
        user: opts.user ?? 'raw-watcher',
        headers,
      }),
      sipPort,
      8_000,
    );
    watcher.status = res.status;
    watcher.headers = res.headers;
    return watcher;
  }

  /** Every record received so far, in order, as [name, value]. */
  records(): [string, unknown][] {
    const out: [string, unknown][] = [];
    for (const n of this.notifies) {
      if (n.body.trim() === '') continue;
      for (const r of JSON.parse(n.body) as { n: string; v?: unknown; vs?: unknown }[])
        out.push([r.n, r.v ?? r.vs]);
    }
    return out;
  }

  close(): void {
    this.sip.close();
  }
}

/** The initial and the modified pack test/interop/sipp/publish.xml publishes (-key pack1, -key pack2). */
export const PACKS = {
  pack1: '[{"bn":"urn:dev:sipp:","n":"temp","u":"Cel","v":21.5}]',
  pack2: '[{"bn":"urn:dev:sipp:","n":"temp","u":"Cel","v":22}]',
};

/**
 * Creates a topic with a hand-written factory INVITE (the 302 is ACKed); returns its conference URI.
 * `user` is the From user (the creator when authentication is off).
 */
export async function createTopic(sipPort: number, topic: string, user?: string): Promise<string> {
  const sip = await RawSipSocket.open();
  try {
    const invite = rawRequest({
      method: 'INVITE',
      uri: 'sip:factory@localhost',
      localPort: sip.port,
      user,
      headers: [`Subject: ${topic}`],
    });
    const redirect = await sip.request(invite, sipPort);
    if (redirect.status !== 302) throw new Error(`factory answered ${redirect.status} ${redirect.reason}`);
    const confUri = /<(sip:conf-[^>]+)>/.exec(redirect.headers.get('contact')?.[0] ?? '')?.[1];
    if (!confUri) throw new Error(`302 without a conference Contact: ${redirect.raw}`);
    const copy = (name: string) => new RegExp(`\\r\\n(${name}: [^\\r\\n]+)`).exec(invite)![1];
    sip.send(
      [
        'ACK sip:factory@localhost SIP/2.0',
        copy('Via'),
        'Max-Forwards: 70',
        copy('From'),
        `To: ${redirect.headers.get('to')![0]}`,
        copy('Call-ID'),
        'CSeq: 1 ACK',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      sipPort,
    );
    return confUri;
  } finally {
    sip.close();
  }
}
