// A subscriber: one dialog with the conference (offer a=recvonly) and one RTP socket on which the relay
// delivers the topic's T.140 stream; each completed line is parsed as a SenML pack.
import { EventEmitter } from 'node:events';
import { classifyDatagram, parseRtp, RtpParseError } from '@sip-pubsub/media';
import type { SenmlLimits, SenmlPack } from '@sip-pubsub/senml';
import { ConferenceLeg } from './conference-leg.js';
import { MediaKeepAlive } from './media-keepalive.js';
import { buildMediaOffer } from './media-offer.js';
import { MixedPublicationAssembler } from './mixed-publication-assembler.js';
import { PublicationAssembler, type PublicationEvent } from './publication-assembler.js';
import { RtpSocket } from './rtp-socket.js';
import type { UserAgent } from './user-agent.js';

export interface SubscriberOptions {
  /** Redundancy we offer to receive (RFC 2198 generations). Default 2. */
  redundancy?: number;
  senmlLimits?: SenmlLimits;
  /**
   * Offer a=rtt-mixer (RFC 9071): the relay then sends every publisher's text in one stream of its own,
   * each packet naming its publisher in the CSRC. Default false (translate: each publisher's own stream).
   */
  mixer?: boolean;
}

export interface PackMeta {
  /** SSRC of the publisher (translate mode keeps it). */
  ssrc: number;
  /** The line as received, without U+2028. */
  line: string;
  /** The relay's SSRC when the stream is mixed (RFC 9071); `ssrc` is then the CSRC naming the publisher. */
  mixerSsrc?: number;
}

export interface LossInfo {
  ssrc: number;
  /** Packets whose text redundancy could not recover. */
  lost: number;
  /** Lines dropped because they held a gap (U+FFFD). */
  damagedLines: number;
}

export interface SubscriberEvents {
  pack: [pack: SenmlPack, meta: PackMeta];
  invalid: [line: string, err: Error];
  loss: [info: LossInfo];
  /** The subscriber ended: 'local' after close(), 'remote' when the focus sent BYE. */
  close: [by: 'local' | 'remote'];
}

export class Subscriber extends EventEmitter<SubscriberEvents> {
  readonly conferenceUri: string;
  private assembler: PublicationAssembler | MixedPublicationAssembler | undefined;
  private leg: ConferenceLeg | undefined;
  private closing: Promise<void> | undefined;
  /**
   * Packets that arrive between our INVITE and its 2xx (the relay may start sending at once, e.g. the
   * retained values): replayed once the caller holds the subscriber and can listen; undefined after that.
   */
  private early: Buffer[] | undefined = [];
  private keepAlive: MediaKeepAlive | undefined;

  private constructor(
    conferenceUri: string,
    private readonly socket: RtpSocket,
  ) {
    super();
    this.conferenceUri = conferenceUri;
  }

  /** Joins `conferenceUri` as a subscriber. */
  static async open(ua: UserAgent, conferenceUri: string, opts: SubscriberOptions = {}): Promise<Subscriber> {
    let subscriber: Subscriber | undefined;
    const socket = await RtpSocket.bind(ua.options.localHost, (data) => subscriber?.receiveDatagram(data));
    subscriber = new Subscriber(conferenceUri, socket);
    try {
      const local = { address: ua.options.localHost, port: socket.address.port };
      const offer = buildMediaOffer('subscriber', local, {
        redundancy: opts.redundancy,
        username: ua.options.user,
        mixer: opts.mixer,
      });
      const leg = await ConferenceLeg.join(ua, conferenceUri, offer, local);
      subscriber.attach(ua, leg, opts);
      return subscriber;
    } catch (err) {
      await socket.close();
      throw err;
    }
  }

  /** How the relay sends to us, as the answer settled it: one mixed stream, or each publisher's own. */
  get mode(): 'translate' | 'mix' {
    return this.assembler instanceof MixedPublicationAssembler ? 'mix' : 'translate';
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Leaves the conference (BYE) and closes the socket. */
  close(): Promise<void> {
    return this.shutdown(true);
  }

  private attach(ua: UserAgent, leg: ConferenceLeg, opts: SubscriberOptions): void {
    this.leg = leg;
    // The relay sends nothing until it hears from our RTP address (README "Media consent").
    this.keepAlive = new MediaKeepAlive(
      ua.clock,
      (data, host, port) => this.socket.send(data, host, port),
      // An empty T.140 packet: it latches a relay leg behind NAT, where an unnegotiated type would not.
      () => ({ address: leg.target.address, port: leg.target.port, payloadType: leg.target.t140Pt }),
    );
    this.keepAlive.kick();
    const assemble = (target: typeof leg.target) => {
      const settings = { t140Pt: target.t140Pt, redPt: target.redPt, senmlLimits: opts.senmlLimits };
      return target.mixer ? new MixedPublicationAssembler(settings) : new PublicationAssembler(settings);
    };
    this.assembler = assemble(leg.target);
    leg.on('retarget', (target) => {
      // A relay failover may move us between a mixed and a translated stream.
      if (this.assembler instanceof MixedPublicationAssembler !== (target.mixer === true))
        this.assembler = assemble(target);
      else this.assembler?.setPayloadTypes(target.t140Pt, target.redPt);
      this.keepAlive?.kick();
    });
    leg.on('ended', () => void this.shutdown(false));
    setImmediate(() => {
      const early = this.early ?? [];
      this.early = undefined;
      for (const data of early) this.receiveDatagram(data);
    });
  }

  private receiveDatagram(data: Buffer): void {
    if (this.closing) return;
    if (!this.assembler || this.early) {
      if (this.early && this.early.length < 64) this.early.push(Buffer.from(data));
      return;
    }
    // RFC 5761 §4 / RFC 6263: RTCP and keep-alives share the port and carry no text.
    if (classifyDatagram(data) !== 'rtp') return;
    let packet: ReturnType<typeof parseRtp>;
    try {
      packet = parseRtp(data);
    } catch (err) {
      if (err instanceof RtpParseError) return;
      throw err;
    }
    for (const event of this.assembler.receive(packet)) this.dispatch(event);
  }

  private dispatch(event: PublicationEvent): void {
    switch (event.kind) {
      case 'pack':
        this.emit('pack', event.pack, {
          ssrc: event.ssrc,
          line: event.line,
          ...(event.mixerSsrc !== undefined ? { mixerSsrc: event.mixerSsrc } : {}),
        });
        break;
      case 'invalid':
        this.emit('invalid', event.line, event.error);
        break;
      case 'loss':
        this.emit('loss', { ssrc: event.ssrc, lost: event.lost, damagedLines: event.damagedLines });
        break;
    }
  }

  private shutdown(leave: boolean): Promise<void> {
    this.closing ??= (async () => {
      this.keepAlive?.stop();
      try {
        if (leave) await this.leg?.leave();
      } finally {
        await this.socket.close();
        this.emit('close', leave ? 'local' : 'remote');
      }
    })();
    return this.closing;
  }
}
