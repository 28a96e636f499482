// The relay core: legs grouped by conference, publications in, deliveries out in three modes per
// subscriber leg (PROFILE "Media"): translate (the publisher's packet as received), mix (RFC 9071: our
// SSRC, CSRC = source, per-source redundancy) and aggregate (records of all publishers over a window as
// one pack). The nouns own their resources (leg.ts, conference.ts): the core holds conferences, a
// conference its legs and bus subscription, a leg its socket; removing the last leg closes the conference.
// Timers are the adapter's: the clock is injected and the adapter calls tick() when nextDueAt() says so.
// Translate fan-out allocates nothing per subscriber: the packet is read in place once (RtpView), each
// leg's payload-type map was computed when it was allocated, and a rewritten copy is made once per
// distinct map, not per leg. Sends are fire-and-forget datagrams, so a slow
// or absent subscriber never holds up the others. A leg is sent nothing without its peer's media consent
// (README "Media consent"), and every buffer a leg or a conference keeps has a cap (issue 7).
import {
  classifyDatagram,
  LineAssembler,
  ntpTimestamp,
  parseRtcp,
  payloadTypesKey,
  RTP_VIEW_OK,
  type RtcpPacket,
  RtpReceptionStatistics,
  RtpView,
  redCarriesNoText,
  redundancyOnly,
  remapT140PayloadTypes,
  SDES_CNAME,
  serializeRtcp,
  serializeRtp,
  type T140PayloadTypes,
  T140Receiver,
} from '@sip-pubsub/media';
import {
  aggregatePacks,
  formatPackLine,
  parseSenmlJson,
  SenmlError,
  type SenmlPack,
} from '@sip-pubsub/senml';
import { Conference } from './conference.js';
import type { Leg } from './leg.js';

export { Conference, type ConferenceSubscription } from './conference.js';
export {
  type DatagramSender,
  type ForwardingMode,
  Leg,
  type LegBufferLimits,
  type LegOptions,
  type LegSocket,
  MAX_MIX_SOURCES,
} from './leg.js';

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
  /** Packets sent to subscriber legs and their bytes: one call per fan-out, not per subscriber. */
  deliveriesOut(conferenceId: string, packets: number, bytes: number): void;
  invalid(conferenceId: string): void;
  /** Datagrams not forwarded (count of them, 1 when left out): one call per packet, not per subscriber. */
  dropped(reason: DropReason, count?: number): void;
  lost(conferenceId: string, lost: number, recovered: number): void;
  /** Seconds from a publication's arrival at the first relay to its delivery here (one per fan-out). */
  latency(conferenceId: string, seconds: number): void;
  packetsIn(conferenceId: string): void;
}

const MAX_CONTRIBUTORS = 15; // the CSRC count field has 4 bits (RFC 3550 §5.1)
/** Packs collected in one aggregation window of one leg. */
export const MAX_WINDOW_PACKS = 1_000;
/** Decoding states for publishers on other relays, over all conferences. */
export const MAX_REMOTE_SOURCES = 4_096;

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
  /** A publisher leg's packets arrived with a new SSRC (its first, or a changed one): the roster's `<src-id>`. */
  onSource?(conferenceId: string, legId: string, ssrc: number): void;
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
  private readonly conferences = new Map<string, Conference>();
  private readonly legs = new Map<string, Leg>();
  private readonly remoteSources = new Map<string, RemoteSource>();
  /** Mix and aggregate legs with text queued or redundancy owed. */
  private readonly active = new Set<Leg>();
  private readonly now: () => number;
  /** Readings of the packet in hand: one for our sockets, one for packets from other relays. */
  private readonly view = new RtpView();
  private readonly sharedView = new RtpView();
  /** Per fan-out: the payload-type maps met so far and the packet rewritten for each (reused arrays). */
  private readonly remapKeys: number[] = [];
  private readonly remapped: (Uint8Array | undefined)[] = [];

  constructor(private readonly opts: RelayCoreOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * The conference, created if new, held open for an allocation under way: it is not closed when empty
   * until settleConference() says the allocation is over (its leg added, or failed).
   */
  openConference(conferenceId: string): Conference {
    const conference = this.conference(conferenceId);
    conference.pending++;
    return conference;
  }

  /** An allocation opened with openConference() is over; closes the conference if it is left empty. */
  settleConference(conferenceId: string): void {
    const conference = this.conferences.get(conferenceId);
    if (!conference) return;
    conference.pending = Math.max(0, conference.pending - 1);
    if (conference.empty) this.closeConference(conference);
  }

  getConference(conferenceId: string): Conference | undefined {
    return this.conferences.get(conferenceId);
  }

  addLeg(leg: Leg): void {
    leg.lastHeardAt = this.now();
    const previous = this.legs.get(leg.options.legId);
    if (previous && previous !== leg) this.removeLeg(leg.options.legId);
    this.conference(leg.options.conferenceId).add(leg);
    this.legs.set(leg.options.legId, leg);
  }

  getLeg(legId: string): Leg | undefined {
    return this.legs.get(legId);
  }

  /**
   * Removes and closes a leg (its socket and port go with it); conferenceEmpty is true when its conference
   * has no more legs here, and then the conference is closed too (it leaves the subject).
   */
  removeLeg(legId: string): { removed: boolean; conferenceEmpty: boolean } {
    const leg = this.legs.get(legId);
    if (!leg) return { removed: false, conferenceEmpty: false };
    this.legs.delete(legId);
    this.active.delete(leg);
    const conference = this.conferences.get(leg.options.conferenceId);
    if (!conference) {
      leg.close();
      return { removed: true, conferenceEmpty: true };
    }
    conference.remove(leg);
    const conferenceEmpty = conference.legs.size === 0;
    if (conference.empty) this.closeConference(conference);
    return { removed: true, conferenceEmpty };
  }

  /** Closes every conference, and so every leg and subscription (relay shutdown). */
  close(): void {
    for (const conference of [...this.conferences.values()]) this.closeConference(conference);
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
    for (const [id, conference] of this.conferences)
      if (conference.legs.size > 0) out.set(id, [...conference.legs.values()]);
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

  private conference(conferenceId: string): Conference {
    let conference = this.conferences.get(conferenceId);
    if (!conference) {
      conference = new Conference(conferenceId);
      this.conferences.set(conferenceId, conference);
    }
    return conference;
  }

  private closeConference(conference: Conference): void {
    for (const leg of conference.legs.values()) {
      this.legs.delete(leg.options.legId);
      this.active.delete(leg);
    }
    conference.close();
    if (this.conferences.get(conference.id) === conference) this.conferences.delete(conference.id);
    const prefix = `${conference.id}\n`;
    for (const key of this.remoteSources.keys()) if (key.startsWith(prefix)) this.remoteSources.delete(key);
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
    if (kind === 'keepalive') {
      this.dropReceived(leg, 'keepalive', fromHost, fromPort);
      return;
    }
    if (kind === 'rtcp') {
      if (this.isFromPeer(leg, fromHost, fromPort)) this.onRtcp(leg, data);
      this.dropReceived(leg, 'rtcp', fromHost, fromPort);
      return;
    }
    const packet = this.view;
    if (packet.read(data) !== RTP_VIEW_OK) {
      this.dropReceived(leg, 'malformed', fromHost, fromPort);
      return;
    }
    const pt = packet.payloadType;
    if (pt !== options.t140Pt && pt !== options.redPt) {
      this.dropReceived(leg, 'unknown-pt', fromHost, fromPort);
      return;
    }
    if (!this.acceptSource(leg, fromHost, fromPort)) {
      this.dropReceived(leg, 'source-mismatch', fromHost, fromPort);
      return;
    }
    // An empty T140block from a subscriber is its keep-alive (it also latched the leg, see hear()).
    if (!options.publishes && packet.payloadLength === 0) {
      this.dropReceived(leg, 'keepalive', fromHost, fromPort);
      return;
    }
    if (!options.publishes) {
      this.dropReceived(leg, 'not-publisher', fromHost, fromPort);
      return;
    }
    const now = this.now();
    if (!leg.bucket.take(now)) {
      this.dropReceived(leg, 'rate-limited', fromHost, fromPort);
      return;
    }
    if (leg.receiver.isStale(packet)) {
      // The receiver ignores it, so would every subscriber's: holding or forwarding it only costs memory.
      this.dropReceived(leg, 'stale', fromHost, fromPort);
      return;
    }
    const conferenceId = options.conferenceId;
    const ssrc = packet.ssrc;
    counters.packetsIn(conferenceId);
    let stats = leg.stats;
    if (stats?.ssrc !== ssrc) {
      stats = new RtpReceptionStatistics(ssrc);
      leg.stats = stats;
      this.opts.onSource?.(conferenceId, options.legId, ssrc);
    }
    stats.onPacket(packet.sequenceNumber, packet.timestamp, now);

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
    const noText =
      packet.payloadLength === 0 ||
      (pt === options.redPt && redCarriesNoText(data, packet.payloadOffset, packet.payloadEnd));
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
      if (verdict.dropped > 0) counters.dropped('invalid-data', verdict.dropped);
      if (verdict.overflowed > 0) counters.dropped('held-overflow', verdict.overflowed);
      forward = verdict.forward;
    }
    const pts = leg.payloadTypes;
    const conference = this.conferences.get(conferenceId);
    for (const buf of forward) {
      if (conference) this.deliverTranslate(conference, options.legId, buf, now, pts, leg.payloadTypesKey);
      this.opts.share(conferenceId, options.legId, buf, now, pts);
    }

    // Mix and aggregate work on whole lines: the drop policy keeps only valid ones.
    if (!conference || conference.lineSubscribers.length === 0) return;
    for (const p of publications) {
      if (p.pack === undefined && options.invalidData === 'drop') continue;
      this.deliverLine(conference, options.legId, ssrc, p.line, p.pack, now);
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
    this.deliverTranslate(conference, sourceLegId, data, receivedAt, pts, payloadTypesKey(pts));
    if (conference.lineSubscribers.length === 0) return;
    const packet = this.sharedView;
    if (packet.read(data) !== RTP_VIEW_OK) {
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
    const ssrc = packet.ssrc;
    const delivery = source.receiver.receive(packet);
    if (delivery.text.length === 0) return;
    for (const line of source.lines.push(delivery.text).lines)
      this.deliverLine(conference, sourceLegId, ssrc, line, this.parsePack(line), receivedAt);
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

  /**
   * Sends the packet to every translate subscriber but its source, in each one's payload types. The loop
   * allocates nothing: it reads each leg's precomputed map, and a rewritten copy is made once per distinct
   * map met in this fan-out (RFC 3550 §7.1). Counted once per fan-out.
   */
  private deliverTranslate(
    conference: Conference,
    sourceLegId: string,
    data: Uint8Array,
    receivedAt: number,
    source: T140PayloadTypes,
    sourceKey: number,
  ): void {
    const targets = conference.translateSubscribers;
    if (targets.length === 0) return;
    const now = this.now();
    const keys = this.remapKeys;
    const copies = this.remapped;
    let distinct = 0;
    let packets = 0;
    let bytes = 0;
    let unconsented = 0;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i];
      if (target.options.legId === sourceLegId) continue;
      let out: Uint8Array | undefined = data;
      const key = target.payloadTypesKey;
      if (key !== sourceKey) {
        let k = 0;
        while (k < distinct && keys[k] !== key) k++;
        if (k === distinct) {
          keys[k] = key;
          copies[k] = remapT140PayloadTypes(data, source, target.payloadTypes);
          distinct++;
        }
        out = copies[k];
        if (!out) continue;
      }
      if (target.consentUntil <= now) {
        unconsented++;
        continue;
      }
      if (target.send(out, target.target.host, target.target.port) === false) continue;
      packets++;
      bytes += out.length;
    }
    for (let k = 0; k < distinct; k++) copies[k] = undefined;
    const { counters } = this.opts;
    if (unconsented > 0) counters.dropped('no-consent', unconsented);
    if (packets === 0) return;
    counters.deliveriesOut(conference.id, packets, bytes);
    counters.latency(conference.id, Math.max(0, now - receivedAt) / 1000);
  }

  /** One line (publication) to every mix and aggregate leg but its source's; the text is made once. */
  private deliverLine(
    conference: Conference,
    sourceLegId: string,
    ssrc: number,
    line: string,
    pack: SenmlPack | undefined,
    receivedAt: number,
  ): void {
    const targets = conference.lineSubscribers;
    if (targets.length === 0) return;
    const now = this.now();
    const text = `${line}\u2028`;
    const entry = pack ? { source: sourceLegId, pack, ssrc } : undefined;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i];
      if (target.options.legId === sourceLegId || !target.transmitter) continue;
      // Nothing is queued for a peer that does not consent: it would only be dropped when due.
      if (target.consentUntil <= now) {
        this.opts.counters.dropped('no-consent');
        continue;
      }
      if (target.mode === 'mix') {
        if (!target.transmitter.write(text, ssrc)) {
          this.opts.counters.dropped('queue-overflow');
          continue;
        }
      } else {
        if (!entry) continue; // nothing to aggregate in a line that is not SenML
        target.window ??= { packs: [], bytes: 0, closesAt: now + target.aggregateWindowMs };
        const w = target.window;
        if (
          w.packs.length >= MAX_WINDOW_PACKS ||
          w.bytes + line.length > target.bufferLimits.maxQueuedBytes
        ) {
          this.opts.counters.dropped('queue-overflow');
          continue;
        }
        w.packs.push(entry);
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
        this.opts.counters.deliveriesOut(leg.options.conferenceId, 1, bytes.length);
        if (p.marker || !isRedundancyOnlyPacket(p.payload, leg.options.redPt, p.payloadType)) textSent = true;
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

/** True for a packet of ours that only repeats earlier text (empty T.140, or RED with an empty primary). */
function isRedundancyOnlyPacket(payload: Uint8Array, redPt: number, pt: number): boolean {
  if (pt !== redPt) return payload.length === 0;
  return redundancyOnly(payload, 0, payload.length);
}

function normaliseHost(host: string): string {
  return host.startsWith('::ffff:') ? host.slice(7) : host;
}
