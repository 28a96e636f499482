// A relay leg: one UDP socket and port for one participant's RTP, what it negotiated, and the state that
// is its alone (consent, rate limit, statistics, the translate filter, its outgoing stream for mix and
// aggregate). Owned by exactly one Conference; closing the conference closes its legs.
import {
  LineAssembler,
  payloadTypesKey,
  type RtpReceptionStatistics,
  type T140PayloadTypes,
  T140Receiver,
  T140Transmitter,
} from '@sip-pubsub/media';
import type { SenmlPack } from '@sip-pubsub/senml';
import { TokenBucket } from './token-bucket.js';
import { TranslateFilter } from './translate-filter.js';

export type ForwardingMode = 'translate' | 'mix' | 'aggregate';

export interface LegOptions {
  conferenceId: string;
  legId: string;
  publishes: boolean;
  subscribes: boolean;
  remoteHost: string;
  remotePort: number;
  t140Pt: number;
  /** 0 when RED was not negotiated. */
  redPt: number;
  invalidData: 'drop' | 'forward';
  mode?: ForwardingMode;
  /** RED generations the subscriber asked for (default 2). */
  redundancy?: number;
  /** Aggregation window, 20–5000 ms. */
  aggregateWindowMs?: number;
  /** RTCP shares the RTP port (RFC 5761); only then does the relay send RTCP on the leg. */
  rtcpMux?: boolean;
}

/** Sends one datagram; returns false when it dropped it (a full send queue), anything else when sent. */
export type DatagramSender = (data: Uint8Array, host: string, port: number) => unknown;

/** The leg's own socket: sends, and is closed (its port released) with the leg. */
export interface LegSocket {
  send: DatagramSender;
  close(): void;
}

/** Told when a leg's options change, so whoever lists legs by role re-sorts it (its Conference). */
export interface LegOwner {
  legChanged(leg: Leg): void;
}

const AGGREGATE_MIN_MS = 20;
const AGGREGATE_MAX_MS = 5000;
/** Sources a mix leg keeps redundancy for; a publisher changing SSRC per packet cannot grow it. */
export const MAX_MIX_SOURCES = 64;
/** Per-leg buffer caps (issue 7, defect 3). */
export interface LegBufferLimits {
  /** Bytes the translate filter holds for an open line (default 64 KiB). */
  maxHeldBytes?: number;
  /** Packets the translate filter holds for an open line (default 64). */
  maxHeldPackets?: number;
  /** Text queued for a mix leg, or line bytes collected in an aggregate window (default 64 KiB). */
  maxQueuedBytes?: number;
  /** Longest partial line kept while it has no U+2028 (UTF-16 units; default 64 Ki). */
  maxLineLength?: number;
}

const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024;

/**
 * One RTP leg of a conference on this relay. It owns what is only its own: the socket and port, the
 * payload-type map (computed at allocation and at each re-INVITE, never per packet), the token bucket,
 * the media consent state, the reception statistics and its outgoing stream; close() lets go of all of it.
 */
export class Leg {
  readonly receiver: T140Receiver;
  /** The leg's payload type numbers, and one number standing for them (payloadTypesKey). */
  payloadTypes: T140PayloadTypes;
  payloadTypesKey: number;
  /** Set by the conference that holds the leg. */
  owner: LegOwner | undefined;
  closed = false;
  readonly send: DatagramSender;
  private readonly socket: LegSocket | undefined;
  readonly lines: LineAssembler;
  /** Where we send: the negotiated address, or the latched source for a leg behind NAT. */
  target: { host: string; port: number };
  latched = false;
  /** Whether a received datagram of this leg was dropped yet (the first one is reported, issue 12). */
  dropReported = false;
  /** Our SSRC on this leg (mix and aggregate streams, RTCP reports). */
  readonly ssrc: number;
  stats: RtpReceptionStatistics | undefined;
  bucket: TokenBucket;
  filter: TranslateFilter;
  transmitter: T140Transmitter | undefined;
  /** Aggregate mode: packs collected in the current window, their line bytes, and when it closes. */
  window:
    | { packs: { source: string; pack: SenmlPack; ssrc: number }[]; bytes: number; closesAt: number }
    | undefined;
  /**
   * Media consent (README "Media consent", in the spirit of RFC 7675): nothing is sent to the peer
   * before this time, which each datagram from the peer's address moves to now + the consent timeout.
   */
  consentUntil = 0;
  /** Whether the peer ever gave consent (a silent close says 'silent' rather than 'no-consent'). */
  consented = false;
  /**
   * The retained-values greeting, held until the peer first consents (a greeting sent before would make
   * the relay a reflector for one pack per INVITE). Sent once, in order, then live delivery follows.
   */
  greeting: Uint8Array[] | undefined;
  /** When the leg last received a datagram from its peer (or was allocated). */
  lastHeardAt = 0;
  readonly bufferLimits: Required<LegBufferLimits>;
  /** Arrival time of the oldest publication waiting in the transmitter. */
  pendingSince: number | undefined;
  packetsSent = 0;
  octetsSent = 0;
  lastRtpTimestamp = 0;

  constructor(
    public options: LegOptions,
    readonly localPort: number,
    socket: DatagramSender | LegSocket,
    limits: { packetsPerSecond: number; mixBufferMs: number; ssrc?: number } & LegBufferLimits = {
      packetsPerSecond: 1000,
      mixBufferMs: 300,
    },
  ) {
    if (typeof socket === 'function') this.send = socket;
    else {
      this.socket = socket;
      this.send = socket.send;
    }
    this.payloadTypes = payloadTypesOf(options);
    this.payloadTypesKey = payloadTypesKey(this.payloadTypes);
    this.bufferLimits = {
      maxHeldBytes: limits.maxHeldBytes ?? 64 * 1024,
      maxHeldPackets: limits.maxHeldPackets ?? 64,
      maxQueuedBytes: limits.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
      maxLineLength: limits.maxLineLength ?? 65_536,
    };
    this.filter = new TranslateFilter(this.bufferLimits);
    this.lines = new LineAssembler({ maxLineLength: this.bufferLimits.maxLineLength });
    this.target = { host: options.remoteHost, port: options.remotePort };
    this.receiver = new T140Receiver({ t140Pt: options.t140Pt, redPt: options.redPt || undefined });
    this.ssrc = (limits.ssrc ?? Math.floor(Math.random() * 0x1_0000_0000)) >>> 0;
    this.bucket = new TokenBucket(limits.packetsPerSecond);
    this.configure(options, limits.mixBufferMs);
  }

  get mode(): ForwardingMode {
    return this.options.mode ?? 'translate';
  }

  /** Applies new options (re-INVITE); a change of mode starts a new outgoing stream. */
  configure(options: LegOptions, mixBufferMs: number): void {
    const before = this.transmitter ? this.mode : undefined;
    this.options = options;
    this.payloadTypes = payloadTypesOf(options);
    this.payloadTypesKey = payloadTypesKey(this.payloadTypes);
    this.configureStream(before, mixBufferMs);
    this.owner?.legChanged(this);
  }

  private configureStream(before: ForwardingMode | undefined, mixBufferMs: number): void {
    const options = this.options;
    const mode = this.mode;
    if (!options.subscribes || mode === 'translate') {
      this.transmitter = undefined;
      this.window = undefined;
      return;
    }
    if (before === mode && this.transmitter) return;
    const redPt = options.redPt || undefined;
    this.transmitter = new T140Transmitter({
      ssrc: this.ssrc,
      t140Pt: options.t140Pt,
      redPt,
      generations: redPt === undefined ? 0 : (options.redundancy ?? 2),
      // The aggregation window already batches; a mixer follows the buffering interval.
      bufferMs: mode === 'aggregate' ? 0 : mixBufferMs,
      mixer: mode === 'mix',
      // Aggregate text is one pack per window, already capped by the window; resolving its records may
      // make it larger than the lines it came from, so its queue gets room for that.
      maxQueuedText: this.bufferLimits.maxQueuedBytes * (mode === 'aggregate' ? 4 : 1),
      maxSources: MAX_MIX_SOURCES,
    });
    this.window = undefined;
  }

  /** Whether the leg takes the publishers' packets as they are (translate) rather than whole lines. */
  get translates(): boolean {
    return this.options.subscribes && this.mode === 'translate';
  }

  /** Whether the leg takes whole lines (mix or aggregate). */
  get takesLines(): boolean {
    return this.options.subscribes && this.transmitter !== undefined;
  }

  /** Lets go of everything the leg holds: its socket and port, its queues and its greeting. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.consentUntil = 0;
    this.greeting = undefined;
    this.window = undefined;
    this.transmitter = undefined;
    this.owner = undefined;
    this.socket?.close();
  }

  get aggregateWindowMs(): number {
    return Math.min(AGGREGATE_MAX_MS, Math.max(AGGREGATE_MIN_MS, this.options.aggregateWindowMs || 1000));
  }
}

function payloadTypesOf(options: LegOptions): T140PayloadTypes {
  return { t140Pt: options.t140Pt, redPt: options.redPt || undefined };
}
