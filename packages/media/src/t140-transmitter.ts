// T.140 transmission with a buffering interval (RFC 4103 §5, default 300 ms, down to 0) and, for an
// RTP mixer, per-source redundancy (RFC 9071): an engine with no timers of its own. The caller writes
// text with the time, asks nextDueAt() when to come back, and poll()s for the packets then due.

import { RED_MAX_BLOCK_LENGTH, RED_MAX_TIMESTAMP_OFFSET, type RedBlock, serializeRed } from './red.js';
import type { RtpPacket } from './rtp-packet.js';
import { encodeUtf8, splitUtf8 } from './utf8.js';

export const DEFAULT_BUFFER_MS = 300;

export interface T140TransmitterOptions {
  /** The sender's SSRC: a mixer's own, or the publisher's for a translator that re-encodes. */
  ssrc: number;
  t140Pt: number;
  /** RED payload type; undefined sends plain T.140 without redundancy. */
  redPt?: number;
  /** Redundant generations per packet (default 2). */
  generations?: number;
  /** Text is collected for this long after a packet before the next one goes (default 300). */
  bufferMs?: number;
  /** Spacing of the redundancy-only packets that follow text (default: bufferMs, at least 50). */
  redundancyIntervalMs?: number;
  /** Sequence number of the first packet (default random, RFC 3550 §5.1). */
  initialSequence?: number;
  /** Largest T140block in bytes (default and maximum with RED: 1023). */
  maxBlockBytes?: number;
  /**
   * RFC 9071 mixer: each packet carries one source's text, names that source as its only CSRC, and its
   * redundant generations are that source's earlier text, so switching sources loses no redundancy.
   */
  mixer?: boolean;
}

interface Generation {
  data: Uint8Array;
  timestamp: number | undefined; // undefined: filler before the source's first packet
}

interface SourceState {
  id: number;
  csrcs: number[];
  text: string;
  history: Generation[];
  /** Redundancy-only packets still owed after the last text (RFC 4103 §5.2). */
  owed: number;
  lastSentAt: number | undefined;
  /** The next packet of this source starts a burst and gets the marker bit (RFC 4103 §3). */
  idle: boolean;
}

const EMPTY = new Uint8Array(0);
const NO_CSRCS: number[] = [];

export class T140Transmitter {
  private readonly ssrc: number;
  private readonly t140Pt: number;
  private readonly redPt: number | undefined;
  private readonly generations: number;
  private readonly bufferMs: number;
  private readonly redundancyIntervalMs: number;
  private readonly maxBlockBytes: number;
  private readonly mixer: boolean;
  private sequence: number;
  /** Sources with something to send or still owing redundancy, least recently served first. */
  private readonly sources = new Map<number, SourceState>();
  private lastTimestamp: number | undefined;

  constructor(opts: T140TransmitterOptions) {
    this.ssrc = opts.ssrc >>> 0;
    this.t140Pt = opts.t140Pt;
    this.redPt = opts.redPt;
    this.generations = opts.redPt === undefined ? 0 : (opts.generations ?? 2);
    if (!Number.isInteger(this.generations) || this.generations < 0)
      throw new RangeError(`generations ${opts.generations} is not a non-negative integer`);
    this.bufferMs = opts.bufferMs ?? DEFAULT_BUFFER_MS;
    if (!(this.bufferMs >= 0)) throw new RangeError(`bufferMs ${opts.bufferMs} is negative`);
    this.redundancyIntervalMs = opts.redundancyIntervalMs ?? Math.max(this.bufferMs, 50);
    this.maxBlockBytes = opts.maxBlockBytes ?? RED_MAX_BLOCK_LENGTH;
    if (this.redPt !== undefined && this.maxBlockBytes > RED_MAX_BLOCK_LENGTH)
      throw new RangeError(
        `maxBlockBytes ${this.maxBlockBytes} exceeds the RED block limit ${RED_MAX_BLOCK_LENGTH}`,
      );
    if (this.maxBlockBytes < 4) throw new RangeError(`maxBlockBytes ${this.maxBlockBytes} is below 4`);
    this.mixer = opts.mixer ?? false;
    this.sequence = (opts.initialSequence ?? Math.floor(Math.random() * 0x10000)) & 0xffff;
  }

  /**
   * Queues text. `source` is the contributing SSRC in mixer mode (ignored otherwise); `csrcs` names
   * the contributors of this text in the packets that carry it (aggregation), at most 15.
   */
  write(text: string, source = 0, csrcs?: number[]): void {
    if (text.length === 0) return;
    const key = this.mixer ? source >>> 0 : 0;
    let state = this.sources.get(key);
    if (!state) {
      state = {
        id: key,
        csrcs: this.mixer ? [key] : NO_CSRCS,
        text: '',
        history: Array.from({ length: this.generations }, () => ({ data: EMPTY, timestamp: undefined })),
        owed: 0,
        lastSentAt: undefined,
        idle: true,
      };
      this.sources.set(key, state);
    }
    if (csrcs && !this.mixer) state.csrcs = csrcs.slice(0, 15);
    state.text += text;
  }

  /** When poll() next has something to send; undefined when nothing is queued or owed. */
  nextDueAt(): number | undefined {
    let due: number | undefined;
    for (const s of this.sources.values()) {
      const at = this.dueAt(s);
      if (at !== undefined && (due === undefined || at < due)) due = at;
    }
    return due;
  }

  /** Packets due at `nowMs`: per source at most one interval's worth (text, or one redundancy-only packet). */
  poll(nowMs: number): RtpPacket[] {
    const out: RtpPacket[] = [];
    const served: SourceState[] = [];
    for (const s of this.sources.values()) {
      const at = this.dueAt(s);
      if (at === undefined || at > nowMs) continue;
      if (s.text.length > 0) {
        const timestamp = this.timestampAt(nowMs);
        for (const block of splitUtf8(encodeUtf8(s.text), this.maxBlockBytes))
          out.push(this.packetize(s, block, timestamp));
        s.text = '';
        s.owed = this.generations;
      } else {
        out.push(this.packetize(s, EMPTY, this.timestampAt(nowMs)));
        s.owed -= 1;
      }
      s.lastSentAt = nowMs;
      if (s.owed === 0 && s.text.length === 0) s.idle = true;
      served.push(s);
    }
    // Round robin: sources just served go to the back; drained ones keep their history only while owed.
    for (const s of served) {
      this.sources.delete(s.id);
      if (s.owed > 0 || s.text.length > 0 || this.mixer) this.sources.set(s.id, s);
    }
    return out;
  }

  /** Forgets a source (it left); a mixer keeps the others' redundancy. */
  removeSource(source: number): void {
    this.sources.delete(source >>> 0);
  }

  private dueAt(s: SourceState): number | undefined {
    if (s.text.length > 0)
      return s.lastSentAt === undefined ? Number.NEGATIVE_INFINITY : s.lastSentAt + this.bufferMs;
    if (s.owed > 0) return (s.lastSentAt ?? 0) + this.redundancyIntervalMs;
    return undefined;
  }

  // RTP timestamps of one stream never go backwards, whatever the caller's clock does.
  private timestampAt(nowMs: number): number {
    let ts = mod32(Math.floor(nowMs));
    if (this.lastTimestamp !== undefined && ((ts - this.lastTimestamp) | 0) < 0) ts = this.lastTimestamp;
    this.lastTimestamp = ts;
    return ts;
  }

  private packetize(s: SourceState, primary: Uint8Array, timestamp: number): RtpPacket {
    let payload: Uint8Array = primary;
    let payloadType = this.t140Pt;
    if (this.redPt !== undefined) {
      const redundant: RedBlock[] = s.history.map((g) => ({
        payloadType: this.t140Pt,
        timestampOffset:
          g.timestamp === undefined ? 0 : Math.min(mod32(timestamp - g.timestamp), RED_MAX_TIMESTAMP_OFFSET),
        data: g.data,
      }));
      payload = serializeRed({ redundant, primary: { payloadType: this.t140Pt, data: primary } });
      payloadType = this.redPt;
      s.history.shift();
      s.history.push({ data: primary, timestamp });
    }
    const packet: RtpPacket = {
      version: 2,
      padding: false,
      extension: null,
      marker: s.idle,
      payloadType,
      sequenceNumber: this.sequence,
      timestamp,
      ssrc: this.ssrc,
      csrcs: s.csrcs,
      payload,
    };
    s.idle = false;
    this.sequence = (this.sequence + 1) & 0xffff;
    return packet;
  }
}

function mod32(n: number): number {
  return ((n % 0x1_0000_0000) + 0x1_0000_0000) % 0x1_0000_0000;
}
