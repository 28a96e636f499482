// The relay core: legs grouped by conference, publications in, deliveries out in three modes per
// subscriber leg (PROFILE "Media"): translate (the publisher's packet as received), mix (RFC 9071: our
// SSRC, CSRC = source, per-source redundancy) and aggregate (records of all publishers over a window as
// one pack). Sockets and timers are the adapter's: a leg gets a `send` function, the clock is injected,
// and the adapter calls tick() when nextDueAt() says so. Sends are fire-and-forget datagrams, so a slow
// or absent subscriber never holds up the others. A leg is sent nothing without its peer's media consent
// (README "Media consent"), and every buffer a leg or a conference keeps has a cap (issue 7).
import {
  classifyDatagram,
  LineAssembler,
  ntpTimestamp,
  parseRtcp,
  parseRtp,
  type RtcpPacket,
  RtpReceptionStatistics,
  remapT140PayloadTypes,
  SDES_CNAME,
  samePayloadTypes,
  serializeRtcp,
  serializeRtp,
  type T140PayloadTypes,
  T140Receiver,
  T140Transmitter,
} from '@sip-pubsub/media';
import {
  aggregatePacks,
  formatPackLine,
  parseSenmlJson,
  SenmlError,
  type SenmlPack,
} from '@sip-pubsub/senml';
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

export type DropReason =
  | 'keepalive'
  | 'rtcp'
  /** From an address that is not the leg's peer (not the negotiated host, or not the latched address). */
  | 'source-mismatch'
  | 'not-publisher'
  | 'malformed'
  | 'unknown-pt'
  | 'rate-limited'
  | 'invalid-data'
  /** A packet of the current source not newer than the highest seen (duplicate, stale or replayed). */
  | 'stale'
  /** Held for an open line past the per-leg cap, dropped unsent (issue 7, defect 3). */
  | 'held-overflow'
  /** Text or records for a mix or aggregate leg past its queue cap. */
  | 'queue-overflow'
  /** Not sent: the leg's peer has not (or no longer) consented to receive (README "Media consent"). */
  | 'no-consent'
  /** Not sent: the leg's socket already has its cap of datagrams waiting in the kernel's queue. */
  | 'send-queue-full';

export interface RelayCounters {
  publicationsIn(conferenceId: string): void;
  deliveriesOut(conferenceId: string, bytes: number): void;
  invalid(conferenceId: string): void;
  dropped(reason: DropReason): void;
  lost(conferenceId: string, lost: number, recovered: number): void;
  /** Seconds from a publication's arrival at the first relay to its delivery here (one per fan-out). */
  latency(conferenceId: string, seconds: number): void;
  packetsIn(conferenceId: string): void;
}

const AGGREGATE_MIN_MS = 20;
const AGGREGATE_MAX_MS = 5000;
const MAX_CONTRIBUTORS = 15; // the CSRC count field has 4 bits (RFC 3550 §5.1)
/** Sources a mix leg keeps redundancy for; a publisher changing SSRC per packet cannot grow it. */
export const MAX_MIX_SOURCES = 64;
/** Packs collected in one aggregation window of one leg. */
export const MAX_WINDOW_PACKS = 1_000;
/** Decoding states for publishers on other relays, over all conferences. */
export const MAX_REMOTE_SOURCES = 4_096;

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

export class Leg {
  readonly receiver: T140Receiver;
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
    readonly send: DatagramSender,
    limits: { packetsPerSecond: number; mixBufferMs: number; ssrc?: number } & LegBufferLimits = {
      packetsPerSecond: 1000,
      mixBufferMs: 300,
    },
  ) {
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

  get aggregateWindowMs(): number {
    return Math.min(AGGREGATE_MAX_MS, Math.max(AGGREGATE_MIN_MS, this.options.aggregateWindowMs || 1000));
  }
}

export interface ReceivedDrop {
  conferenceId: string;
  legId: string;
  reason: DropReason;
  negotiated: { host: string; port: number };
  seen: { host: string; port: number };
}

export interface RelayCoreOptions {
  latching: boolean;
  /** With latching, accept a first packet from any host, not only the negotiated one (NAT traversal). */
  natTraversal?: boolean;
  /** The first received datagram a leg drops, with where it came from (an operator sees why a topic is silent). */
  onFirstDrop?(drop: ReceivedDrop): void;
  maxPackBytes: number;
  counters: RelayCounters;
  /** Called once per packet forwarded from a publisher here, to share it with the other relays. */
  share(
    conferenceId: string,
    legId: string,
    packet: Uint8Array,
    receivedAt: number,
    pts: T140PayloadTypes,
  ): void;
  now?: () => number;
  /** CNAME in our RTCP SDES (RFC 3550 §6.5.1). */
  cname?: string;
  /** How long a datagram from a leg's peer keeps consent to send to it (README "Media consent"). */
  consentTimeoutMs?: number;
  /** Longest partial line kept for a publisher on another relay (UTF-16 units). */
  maxLineLength?: number;
}

export const DEFAULT_CONSENT_TIMEOUT_MS = 30_000;

export type LegCloseReason = 'silent' | 'no-consent';

/** Decoding state for a publisher whose packets arrive from another relay. */
interface RemoteSource {
  receiver: T140Receiver;
  lines: LineAssembler;
}

export class RelayCore {
  private readonly conferences = new Map<string, Map<string, Leg>>();
  private readonly legs = new Map<string, Leg>();
  private readonly remoteSources = new Map<string, RemoteSource>();
  /** Mix and aggregate legs with text queued or redundancy owed. */
  private readonly active = new Set<Leg>();
  private readonly now: () => number;

  constructor(private readonly opts: RelayCoreOptions) {
    this.now = opts.now ?? Date.now;
  }

  addLeg(leg: Leg): void {
    leg.lastHeardAt = this.now();
    let conference = this.conferences.get(leg.options.conferenceId);
    if (!conference) {
      conference = new Map();
      this.conferences.set(leg.options.conferenceId, conference);
    }
    conference.set(leg.options.legId, leg);
    this.legs.set(leg.options.legId, leg);
  }

  getLeg(legId: string): Leg | undefined {
    return this.legs.get(legId);
  }

  /** Removes a leg; conferenceEmpty is true when its conference has no more legs here. */
  removeLeg(legId: string): { removed: boolean; conferenceEmpty: boolean } {
    const leg = this.legs.get(legId);
    if (!leg) return { removed: false, conferenceEmpty: false };
    this.legs.delete(legId);
    this.active.delete(leg);
    const conferenceId = leg.options.conferenceId;
    const conference = this.conferences.get(conferenceId)!;
    conference.delete(legId);
    if (conference.size === 0) {
      this.conferences.delete(conferenceId);
      for (const key of this.remoteSources.keys())
        if (key.startsWith(`${conferenceId}\n`)) this.remoteSources.delete(key);
    }
    return { removed: true, conferenceEmpty: conference.size === 0 };
  }

  hasConference(conferenceId: string): boolean {
    return this.conferences.has(conferenceId);
  }

  /** Decoding states kept for publishers on other relays (capped at MAX_REMOTE_SOURCES). */
  get remoteSourceCount(): number {
    return this.remoteSources.size;
  }

  get legCount(): number {
    return this.legs.size;
  }

  conferenceLegs(): Map<string, Leg[]> {
    const out = new Map<string, Leg[]>();
    for (const [id, legs] of this.conferences) out.set(id, [...legs.values()]);
    return out;
  }

  /**
   * Legs that received nothing from their peer for `silenceMs`: 'no-consent' when the peer never gave
   * consent, 'silent' when it did and then stopped. The caller closes them.
   */
  silentLegs(silenceMs: number): { leg: Leg; reason: LegCloseReason }[] {
    const now = this.now();
    const out: { leg: Leg; reason: LegCloseReason }[] = [];
    for (const leg of this.legs.values())
      if (now - leg.lastHeardAt >= silenceMs)
        out.push({ leg, reason: leg.consented ? 'silent' : 'no-consent' });
    return out;
  }

  /** Whether the leg's peer consents to receive now. */
  hasConsent(leg: Leg): boolean {
    return leg.consentUntil > this.now();
  }

  /** The leg's address changed (re-INVITE): consent must come from the new one. */
  retarget(leg: Leg, host: string, port: number): void {
    if (leg.latched) return;
    if (leg.target.host === host && leg.target.port === port) return;
    leg.target = { host, port };
    leg.consentUntil = 0;
  }

  /** A datagram arrived on a leg's socket. */
  onDatagram(leg: Leg, data: Uint8Array, fromHost: string, fromPort: number): void {
    const { counters } = this.opts;
    const { options } = leg;
    const kind = classifyDatagram(data);
    this.hear(leg, fromHost, fromPort, kind === 'rtp' ? data[1] & 0x7f : undefined);
    const drop = (reason: DropReason) => this.dropReceived(leg, reason, fromHost, fromPort);
    if (kind === 'keepalive') {
      drop('keepalive');
      return;
    }
    if (kind === 'rtcp') {
      if (this.isFromPeer(leg, fromHost, fromPort)) this.onRtcp(leg, data);
      drop('rtcp');
      return;
    }
    let packet: ReturnType<typeof parseRtp>;
    try {
      packet = parseRtp(data);
    } catch {
      drop('malformed');
      return;
    }
    const pt = packet.payloadType;
    if (pt !== options.t140Pt && pt !== options.redPt) {
      drop('unknown-pt');
      return;
    }
    if (!this.acceptSource(leg, fromHost, fromPort)) {
      drop('source-mismatch');
      return;
    }
    // An empty T140block from a subscriber is its keep-alive (it also latched the leg, see hear()).
    if (!options.publishes && packet.payload.length === 0) {
      drop('keepalive');
      return;
    }
    if (!options.publishes) {
      drop('not-publisher');
      return;
    }
    const now = this.now();
    if (!leg.bucket.take(now)) {
      drop('rate-limited');
      return;
    }
    if (leg.receiver.isStale(packet)) {
      // The receiver ignores it, so would every subscriber's: holding or forwarding it only costs memory.
      drop('stale');
      return;
    }
    const conferenceId = options.conferenceId;
    counters.packetsIn(conferenceId);
    if (leg.stats?.ssrc !== packet.ssrc) leg.stats = new RtpReceptionStatistics(packet.ssrc);
    leg.stats.onPacket(packet.sequenceNumber, packet.timestamp, now);

    const delivery = leg.receiver.receive(packet);
    if (delivery.lost > 0 || delivery.recovered > 0)
      counters.lost(conferenceId, delivery.lost, delivery.recovered);
    let linesOk = true;
    const publications: { line: string; pack: SenmlPack | undefined }[] = [];
    if (delivery.text.length > 0) {
      const wasDiscarding = leg.lines.isDiscarding;
      const { lines, damaged } = leg.lines.push(delivery.text);
      for (let i = 0; i < damaged; i++) counters.invalid(conferenceId);
      if (damaged > 0) linesOk = false;
      // An over-long line ended here: its last packets go with the rest of it.
      if (wasDiscarding && !leg.lines.isDiscarding) linesOk = false;
      for (const line of lines) {
        counters.publicationsIn(conferenceId);
        const pack = this.parsePack(line);
        if (!pack) {
          counters.invalid(conferenceId);
          linesOk = false;
        }
        publications.push({ line, pack });
      }
    }

    // Translate: the received buffer itself, filtered by line verdicts under the `drop` policy.
    const noText = packet.payload.length === 0 || (pt === options.redPt && carriesNoText(packet.payload));
    let forward: Uint8Array[];
    if (noText) {
      counters.dropped('keepalive');
      forward = [];
    } else if (options.invalidData === 'forward') {
      forward = [data];
    } else {
      const verdict =
        delivery.text.length > 0
          ? leg.filter.onText(data, linesOk, leg.lines.open)
          : leg.filter.onRedundancy(data);
      for (let i = 0; i < verdict.dropped; i++) counters.dropped('invalid-data');
      for (let i = 0; i < verdict.overflowed; i++) counters.dropped('held-overflow');
      forward = verdict.forward;
    }
    const pts = payloadTypesOf(leg);
    for (const buf of forward) {
      this.deliverTranslate(conferenceId, options.legId, buf, now, pts);
      this.opts.share(conferenceId, options.legId, buf, now, pts);
    }

    // Mix and aggregate work on whole lines: the drop policy keeps only valid ones.
    for (const p of publications) {
      if (p.pack === undefined && options.invalidData === 'drop') continue;
      this.deliverLine(conferenceId, options.legId, packet.ssrc, p.line, p.pack, now);
    }
  }

  /** A packet another relay forwarded from one of its publishers (already filtered there). */
  onShared(
    conferenceId: string,
    sourceLegId: string,
    data: Uint8Array,
    receivedAt: number,
    pts: T140PayloadTypes,
  ): void {
    const conference = this.conferences.get(conferenceId);
    if (!conference) return;
    this.deliverTranslate(conferenceId, sourceLegId, data, receivedAt, pts);
    let lineLegs = false;
    for (const l of conference.values()) if (l.options.subscribes && l.mode !== 'translate') lineLegs = true;
    if (!lineLegs) return;
    let packet: ReturnType<typeof parseRtp>;
    try {
      packet = parseRtp(data);
    } catch {
      this.opts.counters.dropped('malformed');
      return;
    }
    const key = `${conferenceId}\n${sourceLegId}`;
    let source = this.remoteSources.get(key);
    if (!source) {
      // The payload types are the publisher's, as its relay told us.
      source = {
        receiver: new T140Receiver({ t140Pt: pts.t140Pt, redPt: pts.redPt }),
        lines: new LineAssembler({ maxLineLength: this.opts.maxLineLength }),
      };
      // Oldest first: a flood of source ids forgets the longest-known ones, never grows past the cap.
      if (this.remoteSources.size >= MAX_REMOTE_SOURCES) {
        const oldest = this.remoteSources.keys().next().value;
        if (oldest !== undefined) this.remoteSources.delete(oldest);
      }
      this.remoteSources.set(key, source);
    }
    const delivery = source.receiver.receive(packet);
    if (delivery.text.length === 0) return;
    for (const line of source.lines.push(delivery.text).lines)
      this.deliverLine(conferenceId, sourceLegId, packet.ssrc, line, this.parsePack(line), receivedAt);
  }

  /** When tick() next has work; undefined when no mix or aggregate leg has anything pending. */
  nextDueAt(): number | undefined {
    let due: number | undefined;
    for (const leg of this.active) {
      const at = Math.min(
        leg.transmitter?.nextDueAt() ?? Number.POSITIVE_INFINITY,
        leg.window?.closesAt ?? Number.POSITIVE_INFINITY,
      );
      if (at !== Number.POSITIVE_INFINITY && (due === undefined || at < due)) due = at;
    }
    return due;
  }

  /** Closes due aggregation windows and sends due mix/aggregate packets. */
  tick(): void {
    const now = this.now();
    for (const leg of this.active) {
      if (leg.window && leg.window.closesAt <= now) this.closeWindow(leg, now);
      this.flush(leg, now);
    }
  }

  /** RTCP for every leg that negotiated rtcp-mux: RR for what we receive, SR for what we originate. */
  sendReports(): void {
    const now = this.now();
    const ntp = ntpTimestamp(now);
    for (const leg of this.legs.values()) {
      if (!leg.options.rtcpMux) continue;
      const block = leg.stats?.report(now);
      const reports = block ? [block] : [];
      const originates = leg.transmitter !== undefined && leg.packetsSent > 0;
      if (!originates && reports.length === 0) continue;
      if (leg.consentUntil <= now) continue;
      const compound: RtcpPacket[] = [
        originates
          ? {
              type: 'sr',
              ssrc: leg.ssrc,
              ntpSeconds: ntp.seconds,
              ntpFraction: ntp.fraction,
              rtpTimestamp: leg.lastRtpTimestamp,
              packetCount: leg.packetsSent >>> 0,
              octetCount: leg.octetsSent >>> 0,
              reports,
            }
          : { type: 'rr', ssrc: leg.ssrc, reports },
        {
          type: 'sdes',
          chunks: [{ ssrc: leg.ssrc, items: [{ type: SDES_CNAME, text: this.opts.cname ?? 'media-relay' }] }],
        },
      ];
      this.transmit(leg, serializeRtcp(compound), now);
    }
  }

  /** Sends to the leg's peer if it consents; returns whether the datagram went. */
  private transmit(leg: Leg, data: Uint8Array, now: number): boolean {
    if (leg.consentUntil <= now) {
      this.opts.counters.dropped('no-consent');
      return false;
    }
    return leg.send(data, leg.target.host, leg.target.port) !== false;
  }

  /**
   * Any datagram from the leg's peer keeps the leg alive; one from the exact address we send to gives
   * consent. With latching the first datagram from an acceptable host (the negotiated one, or any with
   * NAT traversal) fixes that address, whatever it carries: a recvonly peer behind NAT only has its
   * keep-alives (RFC 6263) to show where it is.
   */
  private hear(leg: Leg, host: string, port: number, payloadType?: number): void {
    const from = normaliseHost(host);
    if (this.opts.latching && !leg.latched) {
      // Symmetric RTP (RFC 4961): the negotiated host latches with any datagram; another host (NAT, a
      // multi-homed peer) only with RTP carrying the leg's negotiated payload types, and only with NAT traversal.
      const media =
        payloadType !== undefined &&
        (payloadType === leg.options.t140Pt ||
          (leg.options.redPt !== 0 && payloadType === leg.options.redPt));
      if (from !== normaliseHost(leg.options.remoteHost) && !(this.opts.natTraversal && media)) return;
      leg.target = { host: from, port };
      leg.latched = true;
    }
    if (!this.isFromPeer(leg, host, port)) return;
    const now = this.now();
    leg.lastHeardAt = now;
    if (normaliseHost(leg.target.host) === from && leg.target.port === port) {
      leg.consentUntil = now + (this.opts.consentTimeoutMs ?? DEFAULT_CONSENT_TIMEOUT_MS);
      leg.consented = true;
      this.sendGreeting(leg);
    }
  }

  /**
   * Sends `leg` its greeting packets now if its peer consents, else holds them for its first consent.
   * Live packets before consent are not sent either, so the greeting still comes first.
   */
  greet(leg: Leg, packets: Uint8Array[]): void {
    if (packets.length === 0) return;
    leg.greeting = packets;
    if (this.hasConsent(leg)) this.sendGreeting(leg);
  }

  private sendGreeting(leg: Leg): void {
    const packets = leg.greeting;
    if (!packets) return;
    leg.greeting = undefined;
    for (const p of packets) leg.send(p, leg.target.host, leg.target.port);
  }

  private onRtcp(leg: Leg, data: Uint8Array): void {
    let packets: RtcpPacket[];
    try {
      packets = parseRtcp(data);
    } catch {
      return;
    }
    // Only what feeds our reports is used; RTCP is never forwarded or answered (we report on a timer).
    for (const p of packets)
      if (p.type === 'sr' && leg.stats?.ssrc === p.ssrc)
        leg.stats.onSenderReport(p.ntpSeconds, p.ntpFraction, this.now());
  }

  private deliverTranslate(
    conferenceId: string,
    sourceLegId: string,
    data: Uint8Array,
    receivedAt: number,
    source: T140PayloadTypes,
  ): void {
    const conference = this.conferences.get(conferenceId);
    if (!conference) return;
    const now = this.now();
    let delivered = false;
    // Built once per distinct set of payload type numbers, only when a subscriber's differ (RFC 3550 §7.1).
    let remapped: Map<string, Uint8Array | undefined> | undefined;
    for (const target of conference.values()) {
      if (!target.options.subscribes || target.options.legId === sourceLegId || target.mode !== 'translate')
        continue;
      let out: Uint8Array | undefined = data;
      const wanted = payloadTypesOf(target);
      if (!samePayloadTypes(source, wanted)) {
        const key = `${wanted.t140Pt}/${wanted.redPt ?? ''}`;
        remapped ??= new Map();
        if (!remapped.has(key)) remapped.set(key, remapT140PayloadTypes(data, source, wanted));
        out = remapped.get(key);
        if (!out) continue;
      }
      if (!this.transmit(target, out, now)) continue;
      this.opts.counters.deliveriesOut(conferenceId, out.length);
      delivered = true;
    }
    if (delivered) this.opts.counters.latency(conferenceId, Math.max(0, now - receivedAt) / 1000);
  }

  private deliverLine(
    conferenceId: string,
    sourceLegId: string,
    ssrc: number,
    line: string,
    pack: SenmlPack | undefined,
    receivedAt: number,
  ): void {
    const conference = this.conferences.get(conferenceId);
    if (!conference) return;
    const now = this.now();
    for (const target of conference.values()) {
      if (!target.options.subscribes || target.options.legId === sourceLegId || !target.transmitter) continue;
      // Nothing is queued for a peer that does not consent: it would only be dropped when due.
      if (target.consentUntil <= now) {
        this.opts.counters.dropped('no-consent');
        continue;
      }
      if (target.mode === 'mix') {
        if (!target.transmitter.write(`${line}\u2028`, ssrc)) {
          this.opts.counters.dropped('queue-overflow');
          continue;
        }
      } else {
        if (!pack) continue; // nothing to aggregate in a line that is not SenML
        target.window ??= { packs: [], bytes: 0, closesAt: now + target.aggregateWindowMs };
        const w = target.window;
        if (
          w.packs.length >= MAX_WINDOW_PACKS ||
          w.bytes + line.length > target.bufferLimits.maxQueuedBytes
        ) {
          this.opts.counters.dropped('queue-overflow');
          continue;
        }
        w.packs.push({ source: sourceLegId, pack, ssrc });
        w.bytes += line.length;
      }
      target.pendingSince ??= receivedAt;
      this.active.add(target);
      this.flush(target, now);
    }
  }

  private closeWindow(leg: Leg, now: number): void {
    const window = leg.window!;
    leg.window = undefined;
    const contributors: number[] = [];
    for (const p of window.packs)
      if (!contributors.includes(p.ssrc) && contributors.length < MAX_CONTRIBUTORS)
        contributors.push(p.ssrc >>> 0);
    const pack = aggregatePacks(window.packs, Math.floor(now / 1000));
    if (!leg.transmitter!.write(formatPackLine(pack), 0, contributors))
      this.opts.counters.dropped('queue-overflow');
  }

  private flush(leg: Leg, now: number): void {
    const tx = leg.transmitter;
    if (!tx) {
      this.active.delete(leg);
      return;
    }
    const due = tx.nextDueAt();
    if (due !== undefined && due <= now) {
      const packets = tx.poll(now);
      let textSent = false;
      for (const p of packets) {
        const bytes = serializeRtp(p);
        if (!this.transmit(leg, bytes, now)) continue;
        leg.packetsSent += 1;
        leg.octetsSent += p.payload.length;
        leg.lastRtpTimestamp = p.timestamp;
        this.opts.counters.deliveriesOut(leg.options.conferenceId, bytes.length);
        if (p.marker || !isRedundancyOnlyRed(p.payload, leg.options.redPt, p.payloadType)) textSent = true;
      }
      if (textSent && leg.pendingSince !== undefined) {
        this.opts.counters.latency(leg.options.conferenceId, Math.max(0, now - leg.pendingSince) / 1000);
        leg.pendingSince = undefined;
      }
    }
    if (tx.nextDueAt() === undefined && !leg.window) this.active.delete(leg);
  }

  /** Counts a received datagram not forwarded; the first of each leg is also reported with its source. */
  private dropReceived(leg: Leg, reason: DropReason, host: string, port: number): void {
    this.opts.counters.dropped(reason);
    // Keep-alives and RTCP are expected traffic, not a fault worth a log line.
    if (leg.dropReported || reason === 'keepalive' || reason === 'rtcp') return;
    leg.dropReported = true;
    this.opts.onFirstDrop?.({
      conferenceId: leg.options.conferenceId,
      legId: leg.options.legId,
      reason,
      negotiated: { host: leg.options.remoteHost, port: leg.options.remotePort },
      seen: { host: normaliseHost(host), port },
    });
  }

  /** Whether a datagram comes from the leg's peer as we know it (negotiated host, or the latched address). */
  private isFromPeer(leg: Leg, host: string, port: number): boolean {
    if (leg.latched) return leg.target.host === normaliseHost(host) && leg.target.port === port;
    return normaliseHost(host) === normaliseHost(leg.options.remoteHost);
  }

  /**
   * Source check for a valid RTP packet. Without latching only the negotiated host may send (its source
   * port may differ from its RTP port). With latching the first valid packet fixes where we send,
   * within the negotiated host unless NAT traversal allows any; after that only that address counts.
   */
  private acceptSource(leg: Leg, host: string, port: number): boolean {
    const from = normaliseHost(host);
    if (!this.opts.latching) return from === normaliseHost(leg.options.remoteHost);
    // hear() latched on the leg's first datagram from an acceptable host; only that address counts.
    return leg.latched && leg.target.host === from && leg.target.port === port;
  }

  private parsePack(line: string): SenmlPack | undefined {
    try {
      return parseSenmlJson(line, { maxPackBytes: this.opts.maxPackBytes });
    } catch (err) {
      if (err instanceof SenmlError) return undefined;
      throw err;
    }
  }
}

/** RED payload (RFC 2198 §3) whose blocks are all empty. */
function carriesNoText(payload: Uint8Array): boolean {
  let offset = 0;
  while (offset < payload.length && (payload[offset] & 0x80) !== 0) {
    if (offset + 4 > payload.length) return false;
    if (((payload[offset + 2] & 0x03) << 8) + payload[offset + 3] !== 0) return false;
    offset += 4;
  }
  return offset + 1 === payload.length;
}

/** True for a RED payload whose primary block is empty (a packet that only repeats earlier text). */
function isRedundancyOnlyRed(payload: Uint8Array, redPt: number, pt: number): boolean {
  if (pt !== redPt) return payload.length === 0;
  let offset = 0;
  let blocks = 0;
  while (offset < payload.length && (payload[offset] & 0x80) !== 0) {
    blocks += ((payload[offset + 2] & 0x03) << 8) + payload[offset + 3];
    offset += 4;
  }
  return offset + 1 + blocks === payload.length;
}

function normaliseHost(host: string): string {
  return host.startsWith('::ffff:') ? host.slice(7) : host;
}

function payloadTypesOf(leg: Leg): T140PayloadTypes {
  return { t140Pt: leg.options.t140Pt, redPt: leg.options.redPt || undefined };
}
