// A tiny stand-in for the broker, for the SDK's tests: a SIP UAS built from @sip-pubsub/sip on real
// 127.0.0.1 sockets that redirects factory INVITEs (302), answers conference INVITEs with an SDP answer
// pointing at a UDP socket the test owns, answers BYE, and hands SUBSCRIBEs to the test.

import dgram from 'node:dgram';
import {
  buildTextAnswer,
  negotiateTextOffer,
  parseRtp,
  type RtpPacket,
  type TextOfferSummary,
} from '@sip-pubsub/media';
import {
  createInDialogRequest,
  createResponse,
  type DialogState,
  dialogFromUasResponse,
  type Flow,
  generateTag,
  getHeader,
  type HeaderField,
  type ServerTransaction,
  type SipMessage,
  type SipRequest,
  type SipResponse,
  type SipTransport,
  TcpTransport,
  TransactionLayer,
  UdpTransport,
} from '@sip-pubsub/sip';
import { KEEPALIVE_PAYLOAD_TYPE } from './media-keepalive.js';

export const DOMAIN = 'localhost';

/** Conference URI of a topic: a fixed id per topic so tests can predict it. */
export function conferenceUriFor(topic: string): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz234567';
  let id = '';
  for (const ch of Buffer.from(topic.padEnd(16, '_'))) id += letters[ch % 32];
  return `sip:conf-${id.slice(0, 16)}@${DOMAIN}`;
}

export interface Participant {
  invite: SipRequest;
  offer: TextOfferSummary;
  dialog: DialogState;
  flow: Flow;
}

export type SubscribeHandler = (req: SipRequest, tx: ServerTransaction, flow: Flow) => void;

export class FakeFocus {
  /** Every request that reached the SIP socket, retransmissions and ACKs included, in order. */
  readonly requests: SipRequest[] = [];
  readonly participants: Participant[] = [];
  readonly rtpPackets: RtpPacket[] = [];
  /** RFC 6263 keep-alives (RTP of payload type 20) that reached the RTP socket, with their source. */
  readonly keepAlives: { packet: RtpPacket; port: number }[] = [];
  onSubscribe: SubscribeHandler = (req, tx) => tx.respond(createResponse(req, 489, 'Bad Event'));
  /** Topics whose conference refuses every offer with 488. */
  readonly refusingTopics = new Set<string>();
  private readonly refusing = new Set<string>();
  private waiters: (() => void)[] = [];

  private constructor(
    readonly transport: SipTransport,
    readonly layer: TransactionLayer,
    readonly rtp: dgram.Socket,
  ) {
    transport.on('message', (msg: SipMessage) => {
      if (msg.kind === 'request') {
        this.requests.push(msg);
        this.wake();
      }
    });
    layer.onRequest = (req, tx, flow) => this.receive(req, tx, flow);
    rtp.on('message', (data, rinfo) => {
      const packet = parseRtp(new Uint8Array(data));
      // A subscriber's keep-alive is an empty T.140 packet (no text); a publisher's an unnegotiated type.
      if (packet.payloadType === KEEPALIVE_PAYLOAD_TYPE || packet.payload.length === 0)
        this.keepAlives.push({ packet, port: rinfo.port });
      else this.rtpPackets.push(packet);
      this.wake();
    });
  }

  static async start(protocol: 'udp' | 'tcp' = 'udp'): Promise<FakeFocus> {
    const transport =
      protocol === 'udp'
        ? new UdpTransport({ host: '127.0.0.1', port: 0 })
        : new TcpTransport({ host: '127.0.0.1', port: 0 });
    await transport.listen();
    const layer = new TransactionLayer({ transports: [transport], via: transport.address });
    const rtp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => rtp.bind(0, '127.0.0.1', () => resolve()));
    return new FakeFocus(transport, layer, rtp);
  }

  get server(): string {
    return `127.0.0.1:${this.transport.address.port}`;
  }

  get rtpPort(): number {
    return this.rtp.address().port;
  }

  requestsOf(method: string): SipRequest[] {
    return this.requests.filter((r) => r.method === method);
  }

  /** Resolves when `check` holds, re-checked on every request or RTP packet that arrives. */
  until<T>(check: () => T | undefined | false): Promise<T> {
    return new Promise((resolve) => {
      const attempt = () => {
        const value = check();
        if (value !== undefined && value !== false) {
          resolve(value);
          return true;
        }
        return false;
      };
      if (attempt()) return;
      const waiter = () => {
        if (attempt()) this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends a request (NOTIFY, BYE) to a UA over the flow its requests came on; resolves with the final response. */
  send(req: SipRequest, flow: Flow): Promise<SipResponse> {
    return this.layer.request(req, {
      transport: flow.transport,
      host: flow.remoteHost,
      port: flow.remotePort,
      connectionId: flow.connectionId,
    });
  }

  /** A NOTIFY in a subscription dialog the test holds (RFC 6665 §8.1.2 headers). */
  notify(dialog: DialogState, state: string, body?: string, extra: HeaderField[] = []): SipRequest {
    return createInDialogRequest(dialog, 'NOTIFY', {
      headers: [
        { name: 'Event', value: 'conference' },
        { name: 'Subscription-State', value: state },
        { name: 'Contact', value: `<${dialog.localUri}>;isfocus` },
        ...extra,
      ],
      ...(body !== undefined ? { body, contentType: 'application/conference-info+xml' } : {}),
    });
  }

  /**
   * Answers every SUBSCRIBE with 200 (Expires echoed) like the notifier does; an unsubscribe (Expires: 0)
   * gets its final NOTIFY `terminated;reason=timeout` (RFC 6665 §4.2.1.4). The test sends the other NOTIFYs.
   */
  acceptSubscriptions(): { subscribes: SipRequest[]; dialog?: DialogState; flow?: Flow } {
    const state: { subscribes: SipRequest[]; dialog?: DialogState; flow?: Flow } = { subscribes: [] };
    this.onSubscribe = (req, tx, flow) => {
      state.subscribes.push(req);
      const expires = getHeader(req, 'Expires') ?? '3600';
      const res = createResponse(req, 200, 'OK', {
        toTag: state.dialog?.localTag ?? generateTag(),
        headers: [
          { name: 'Expires', value: expires },
          { name: 'Contact', value: `<${req.uri}>;isfocus` },
        ],
      });
      if (!state.dialog) {
        state.dialog = dialogFromUasResponse(req, res);
        state.flow = flow;
      }
      tx.respond(res);
      if (expires === '0') void this.send(this.notify(state.dialog, 'terminated;reason=timeout'), flow);
    };
    return state;
  }

  async close(): Promise<void> {
    await this.layer.close();
    await this.transport.close();
    await new Promise<void>((resolve) => this.rtp.close(() => resolve()));
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private receive(req: SipRequest, tx: ServerTransaction | null, flow: Flow): void {
    if (tx === null) return; // ACK for a 2xx: recorded in `requests`
    const user = /^sip:([^@]+)@/.exec(req.uri)?.[1] ?? '';
    switch (req.method) {
      case 'INVITE':
        if (user === 'factory') this.factory(req, tx);
        else this.join(req, tx, flow);
        return;
      case 'BYE':
        tx.respond(createResponse(req, 200, 'OK'));
        return;
      case 'SUBSCRIBE':
        this.onSubscribe(req, tx, flow);
        return;
      default:
        tx.respond(createResponse(req, 405, 'Method Not Allowed'));
    }
  }

  private factory(req: SipRequest, tx: ServerTransaction): void {
    const topic = (getHeader(req, 'Subject') ?? '').trim();
    const toTag = generateTag();
    if (topic === '') {
      tx.respond(createResponse(req, 400, 'Empty Subject (the topic)', { toTag }));
      return;
    }
    const uri = conferenceUriFor(topic);
    if (this.refusingTopics.has(topic)) this.refusing.add(uri);
    tx.respond(
      createResponse(req, 302, 'Moved Temporarily', {
        toTag,
        headers: [{ name: 'Contact', value: `<${uri}>;isfocus` }],
      }),
    );
  }

  private join(req: SipRequest, tx: ServerTransaction, flow: Flow): void {
    const toTag = generateTag();
    if (this.refusing.has(req.uri)) {
      tx.respond(
        createResponse(req, 488, 'Not Acceptable Here', {
          toTag,
          headers: [{ name: 'Warning', value: '399 localhost "no m=text media line"' }],
        }),
      );
      return;
    }
    const offerText = req.body.toString('utf8');
    const offer = negotiateTextOffer(offerText);
    const answer = buildTextAnswer(offerText, offer, { address: '127.0.0.1', port: this.rtpPort });
    const res = createResponse(req, 200, 'OK', {
      toTag,
      headers: [{ name: 'Contact', value: `<${req.uri}>;isfocus` }],
      body: answer,
      contentType: 'application/sdp',
    });
    this.participants.push({ invite: req, offer, dialog: dialogFromUasResponse(req, res), flow });
    tx.respond(res);
    this.wake();
  }
}
