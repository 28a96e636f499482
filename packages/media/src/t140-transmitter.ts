// T.140 transmission with a buffering interval (RFC 4103 §5, default 300 ms, down to 0) and, for an
// RTP mixer, per-source redundancy (RFC 9071): an engine with no timers of its own. The caller writes
// text with the time, asks nextDueAt() when to come back, and poll()s for the packets then due.

import type { RtpPacket } from './rtp-packet.js';
import { wrapTimestamp } from './rtp-timestamp.js';
import {
  EMPTY_T140_BLOCK,
  T140Packetizer,
  type T140PacketizerOptions,
  type T140SourceHistory,
} from './t140-packetizer.js';

export const DEFAULT_BUFFER_MS = 300;

export interface T140TransmitterOptions extends T140PacketizerOptions {
  /** Text is collected for this long after a packet before the next one goes (default 300). */
  bufferMs?: number;
  /** Spacing of the redundancy-only packets that follow text (default: bufferMs, at least 50). */
  redundancyIntervalMs?: number;
  /**
   * RFC 9071 mixer: each packet carries one source's text, names that source as its only CSRC, and its
   * redundant generations are that source's earlier text, so switching sources loses no redundancy.
   */
  mixer?: boolean;
  /** Text queued at most, all sources together (UTF-16 units); write() refuses what would go past it. Default unbounded. */
  maxQueuedText?: number;
  /** Sources a mixer keeps at most; a new one replaces the least recently served idle one. Default unbounded. */
  maxSources?: number;
}

interface SourceState extends T140SourceHistory {
  id: number;
  csrcs: number[];
  text: string;
  /** Redundancy-only packets still owed after the last text (RFC 4103 §5.2). */
  owed: number;
  lastSentAt: number | undefined;
}

const NO_CSRCS: number[] = [];

export class T140Transmitter {
  private readonly packetizer: T140Packetizer;
  private readonly bufferMs: number;
  private readonly redundancyIntervalMs: number;
  private readonly mixer: boolean;
  /** Sources with something to send or still owing redundancy, least recently served first. */
  private readonly sources = new Map<number, SourceState>();
  private lastTimestamp: number | undefined;
  private readonly maxQueuedText: number;
  private readonly maxSources: number;

  constructor(opts: T140TransmitterOptions) {
    this.packetizer = new T140Packetizer(opts);
    this.bufferMs = opts.bufferMs ?? DEFAULT_BUFFER_MS;
    if (!(this.bufferMs >= 0)) throw new RangeError(`bufferMs ${opts.bufferMs} is negative`);
    this.redundancyIntervalMs = opts.redundancyIntervalMs ?? Math.max(this.bufferMs, 50);
    this.mixer = opts.mixer ?? false;
    this.maxQueuedText = opts.maxQueuedText ?? Number.POSITIVE_INFINITY;
    this.maxSources = opts.maxSources ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Queues text. `source` is the contributing SSRC in mixer mode (ignored otherwise); `csrcs` names
   * the contributors of this text in the packets that carry it (aggregation), at most 15.
   * Returns false, queuing nothing, when the text would take the source past maxQueuedText or a new
   * source finds maxSources sources all busy.
   */
  write(text: string, source = 0, csrcs?: number[]): boolean {
    if (text.length === 0) return true;
    const key = this.mixer ? source >>> 0 : 0;
    let state = this.sources.get(key);
    if (this.queued.text + text.length > this.maxQueuedText) return false;
    if (!state) {
      if (this.sources.size >= this.maxSources && !this.evictIdleSource()) return false;
      state = {
        ...this.packetizer.newSource(),
        id: key,
        csrcs: this.mixer ? [key] : NO_CSRCS,
        text: '',
        owed: 0,
        lastSentAt: undefined,
      };
      this.sources.set(key, state);
    }
    if (csrcs && !this.mixer) state.csrcs = csrcs.slice(0, 15);
    state.text += text;
    return true;
  }

  /** Text queued and sources kept (for caps and tests). */
  get queued(): { text: number; sources: number } {
    let text = 0;
    for (const s of this.sources.values()) text += s.text.length;
    return { text, sources: this.sources.size };
  }

  // Sources are kept least recently served first, so the first idle one is the one to forget.
  private evictIdleSource(): boolean {
    for (const s of this.sources.values()) {
      if (s.text.length === 0 && s.owed === 0) {
        this.sources.delete(s.id);
        return true;
      }
    }
    return false;
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
        for (const block of this.packetizer.blocks(s.text))
          out.push(this.packetizer.packetize(s, block, timestamp, s.csrcs));
        s.text = '';
        s.owed = this.packetizer.generations;
      } else {
        out.push(this.packetizer.packetize(s, EMPTY_T140_BLOCK, this.timestampAt(nowMs), s.csrcs));
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
    let ts = wrapTimestamp(Math.floor(nowMs));
    if (this.lastTimestamp !== undefined && ((ts - this.lastTimestamp) | 0) < 0) ts = this.lastTimestamp;
    this.lastTimestamp = ts;
    return ts;
  }
}
