// A publisher: one dialog with the conference (offer a=sendonly) and one RTP socket sending each
// SenML pack as a line of T.140 text with RED redundancy (RFC 4103, PROFILE "Media").
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { LINE_SEPARATOR, type RtpPacket, serializeRtp, T140Sender } from '@sip-pubsub/media';
import { formatPackLine, type SenmlPack, validatePack } from '@sip-pubsub/senml';
import { ConferenceLeg, type MediaTarget } from './conference-leg.js';
import { ClientClosedError } from './errors.js';
import { MediaKeepAlive } from './media-keepalive.js';
import { buildMediaOffer, DEFAULT_REDUNDANCY } from './media-offer.js';
import { RtpSocket } from './rtp-socket.js';
import type { UserAgent } from './user-agent.js';

export interface PublisherOptions {
  /** Redundant generations per packet (RFC 2198); 0 sends plain T.140. Default 2. */
  redundancy?: number;
  /** T.140 buffering time (RFC 4103 §5.1): text is collected this long before it is sent. Default 0 for IoT. */
  bufferMs?: number;
  /** Spacing of the redundancy-only packets that follow the last text. Default bufferMs, or 20 ms when that is 0. */
  redundancyIntervalMs?: number;
}

export interface PublisherEvents {
  /** The publisher ended: 'local' after close(), 'remote' when the focus sent BYE. */
  close: [by: 'local' | 'remote'];
}

interface Pending {
  text: string;
  waiters: { resolve: () => void; reject: (err: Error) => void }[];
}

export class Publisher extends EventEmitter<PublisherEvents> {
  readonly conferenceUri: string;
  readonly ssrc: number;
  private readonly sender: T140Sender;
  private readonly bufferMs: number;
  private readonly redundancyIntervalMs: number;
  private target: MediaTarget;
  private buffered: Pending | undefined;
  private flushTimer: unknown;
  private drainTimer: unknown;
  /** Sends go out strictly one after the other so sequence numbers reach the wire in order. */
  private sending: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private readonly keepAlive: MediaKeepAlive;

  private constructor(
    private readonly ua: UserAgent,
    private readonly leg: ConferenceLeg,
    private readonly socket: RtpSocket,
    opts: PublisherOptions,
    ssrc: number,
  ) {
    super();
    this.conferenceUri = leg.conferenceUri;
    this.ssrc = ssrc;
    this.target = leg.target;
    this.bufferMs = opts.bufferMs ?? 0;
    this.redundancyIntervalMs = opts.redundancyIntervalMs ?? (this.bufferMs > 0 ? this.bufferMs : 20);
    const redundancy = opts.redundancy ?? DEFAULT_REDUNDANCY;
    this.sender = new T140Sender({
      ssrc,
      t140Pt: leg.target.t140Pt,
      // The answer keeps our payload types (RFC 3264 §6.1); without red in it, plain T.140 (RFC 4103 §4).
      redPt: redundancy > 0 ? leg.target.redPt : undefined,
      generations: redundancy,
    });
    // Keeps the leg alive while we publish nothing (README "Media consent").
    this.keepAlive = new MediaKeepAlive(
      ua.clock,
      (data, host, port) => this.socket.send(data, host, port),
      () => this.target,
    );
    this.keepAlive.kick();
    leg.on('retarget', (target) => {
      this.target = target;
      this.keepAlive.kick();
    });
    leg.on('ended', () => {
      void this.shutdown(false);
    });
  }

  /** Joins `conferenceUri` as a publisher. */
  static async open(ua: UserAgent, conferenceUri: string, opts: PublisherOptions = {}): Promise<Publisher> {
    if (opts.bufferMs !== undefined && !(opts.bufferMs >= 0))
      throw new RangeError(`bufferMs ${opts.bufferMs}: must be >= 0`);
    const socket = await RtpSocket.bind(ua.options.localHost);
    try {
      const ssrc = randomBytes(4).readUInt32BE(0);
      const local = { address: ua.options.localHost, port: socket.address.port };
      const offer = buildMediaOffer('publisher', local, {
        redundancy: opts.redundancy,
        username: ua.options.user,
      });
      const leg = await ConferenceLeg.join(ua, conferenceUri, offer, local);
      return new Publisher(ua, leg, socket, opts, ssrc);
    } catch (err) {
      await socket.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Validates the pack (throws SenmlError) and sends it as one line. */
  async publish(pack: SenmlPack): Promise<void> {
    this.assertOpen();
    validatePack(pack);
    await this.enqueue(formatPackLine(pack));
  }

  /** Sends `line` as it is, followed by U+2028; no SenML validation (for testing receivers with bad data). */
  async publishLine(line: string): Promise<void> {
    this.assertOpen();
    await this.enqueue(line + LINE_SEPARATOR);
  }

  /** Flushes buffered text, sends the remaining redundancy, leaves the conference (BYE), closes the socket. */
  close(): Promise<void> {
    return this.shutdown(true);
  }

  private assertOpen(): void {
    if (this.closing) throw new ClientClosedError(`publisher for ${this.conferenceUri} is closed`);
  }

  private enqueue(text: string): Promise<void> {
    if (this.bufferMs === 0) return this.transmit(text);
    return new Promise<void>((resolve, reject) => {
      if (!this.buffered) {
        this.buffered = { text: '', waiters: [] };
        this.flushTimer = this.ua.clock.setTimeout(() => void this.flush(), this.bufferMs);
      }
      this.buffered.text += text;
      this.buffered.waiters.push({ resolve, reject });
    });
  }

  private flush(): Promise<void> {
    const pending = this.buffered;
    this.buffered = undefined;
    if (this.flushTimer !== undefined) this.ua.clock.clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!pending) return Promise.resolve();
    return this.transmit(pending.text).then(
      () => {
        for (const w of pending.waiters) w.resolve();
      },
      (err: Error) => {
        for (const w of pending.waiters) w.reject(err);
      },
    );
  }

  private transmit(text: string): Promise<void> {
    const packets = this.sender.send(text, this.ua.clock.now());
    this.scheduleDrain();
    return this.sendPackets(packets);
  }

  /** RFC 4103 §5.2: after the last text, packets with an empty primary carry it through the redundancy. */
  private scheduleDrain(): void {
    if (this.drainTimer !== undefined) this.ua.clock.clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    if (this.sender.pendingRedundancy === 0) return;
    this.drainTimer = this.ua.clock.setTimeout(() => {
      this.drainTimer = undefined;
      void this.sendPackets(this.sender.drain(this.ua.clock.now())).catch(() => {});
      this.scheduleDrain();
    }, this.redundancyIntervalMs);
  }

  private sendPackets(packets: RtpPacket[]): Promise<void> {
    const { address, port } = this.target;
    const next = this.sending.then(async () => {
      for (const packet of packets) await this.socket.send(serializeRtp(packet), address, port);
    });
    // A failed send must not block the ones after it.
    this.sending = next.catch(() => {});
    return next;
  }

  private shutdown(leave: boolean): Promise<void> {
    this.closing ??= (async () => {
      this.keepAlive.stop();
      try {
        await this.flush().catch(() => {});
        if (this.drainTimer !== undefined) this.ua.clock.clearTimeout(this.drainTimer);
        this.drainTimer = undefined;
        if (leave) {
          const rest: RtpPacket[] = [];
          while (this.sender.pendingRedundancy > 0) rest.push(...this.sender.drain(this.ua.clock.now()));
          await this.sendPackets(rest).catch(() => {});
          await this.leg.leave();
        }
      } finally {
        await this.socket.close();
        this.emit('close', leave ? 'local' : 'remote');
      }
    })();
    return this.closing;
  }
}
