// T.140 real-time text sender with optional RFC 2198 redundancy (RFC 4103 §4, §5).

import { RED_MAX_BLOCK_LENGTH, RED_MAX_TIMESTAMP_OFFSET, type RedBlock, serializeRed } from './red.js';
import type { RtpPacket } from './rtp-packet.js';
import { encodeUtf8, splitUtf8 } from './utf8.js';

export interface T140SenderOptions {
  ssrc: number;
  t140Pt: number;
  /** RED payload type; undefined sends plain T.140 without redundancy. */
  redPt?: number;
  /** Redundant generations carried in each packet (default 2). */
  generations?: number;
  /** Sequence number of the first packet (default random, RFC 3550 §5.1). */
  initialSequence?: number;
  /** Timestamp of the first packet; later ones advance with the clock. Default: the ms clock itself. */
  initialTimestamp?: number;
  /** Largest T140block in bytes (default and maximum with RED: 1023). */
  maxBlockBytes?: number;
}

interface Generation {
  data: Uint8Array;
  timestamp: number | undefined; // undefined: filler before the first packet
}

const EMPTY = new Uint8Array(0);

export class T140Sender {
  private readonly ssrc: number;
  private readonly t140Pt: number;
  private readonly redPt: number | undefined;
  private readonly generations: number;
  private readonly maxBlockBytes: number;
  private readonly initialTimestamp: number | undefined;
  private clockOrigin: number | undefined;
  private sequence: number;
  /** The last `generations` primaries, oldest first. */
  private history: Generation[];
  private pending = 0;
  /** True when the next packet starts a burst and gets the marker bit (RFC 4103 §3). */
  private idle = true;

  constructor(opts: T140SenderOptions) {
    this.ssrc = opts.ssrc >>> 0;
    this.t140Pt = opts.t140Pt;
    this.redPt = opts.redPt;
    this.generations = opts.redPt === undefined ? 0 : (opts.generations ?? 2);
    if (!Number.isInteger(this.generations) || this.generations < 0) {
      throw new RangeError(`generations ${opts.generations} is not a non-negative integer`);
    }
    this.maxBlockBytes = opts.maxBlockBytes ?? RED_MAX_BLOCK_LENGTH;
    if (this.redPt !== undefined && this.maxBlockBytes > RED_MAX_BLOCK_LENGTH) {
      throw new RangeError(
        `maxBlockBytes ${this.maxBlockBytes} exceeds the RED block limit ${RED_MAX_BLOCK_LENGTH}`,
      );
    }
    if (this.maxBlockBytes < 4) throw new RangeError(`maxBlockBytes ${this.maxBlockBytes} is below 4`);
    this.sequence = (opts.initialSequence ?? Math.floor(Math.random() * 0x10000)) & 0xffff;
    this.initialTimestamp = opts.initialTimestamp;
    this.history = Array.from({ length: this.generations }, () => ({ data: EMPTY, timestamp: undefined }));
  }

  /** How many redundancy-only packets drain() still has to send to push the last text through. */
  get pendingRedundancy(): number {
    return this.pending;
  }

  /** Packets carrying `text` now; more than one when it exceeds maxBlockBytes. */
  send(text: string, nowMs: number): RtpPacket[] {
    if (text.length === 0) return [];
    const timestamp = this.timestampAt(nowMs);
    const packets = splitUtf8(encodeUtf8(text), this.maxBlockBytes).map((block) =>
      this.packetize(block, timestamp),
    );
    this.pending = this.generations;
    return packets;
  }

  /** One redundancy-only packet per call while pendingRedundancy > 0, then []. */
  drain(nowMs: number): RtpPacket[] {
    if (this.pending === 0) {
      this.idle = true;
      return [];
    }
    const packet = this.packetize(EMPTY, this.timestampAt(nowMs));
    this.pending -= 1;
    if (this.pending === 0) this.idle = true;
    return [packet];
  }

  private timestampAt(nowMs: number): number {
    const ms = Math.floor(nowMs);
    if (this.initialTimestamp === undefined) return mod32(ms);
    this.clockOrigin ??= ms;
    return mod32(this.initialTimestamp + ms - this.clockOrigin);
  }

  private packetize(primary: Uint8Array, timestamp: number): RtpPacket {
    let payload: Uint8Array = primary;
    let payloadType = this.t140Pt;
    if (this.redPt !== undefined) {
      const redundant: RedBlock[] = this.history.map((g) => ({
        payloadType: this.t140Pt,
        // An offset beyond 14 bits cannot be expressed; keep the text, whose order is what matters.
        timestampOffset:
          g.timestamp === undefined ? 0 : Math.min(mod32(timestamp - g.timestamp), RED_MAX_TIMESTAMP_OFFSET),
        data: g.data,
      }));
      payload = serializeRed({ redundant, primary: { payloadType: this.t140Pt, data: primary } });
      payloadType = this.redPt;
      this.history.shift();
      this.history.push({ data: primary, timestamp });
    }
    const packet: RtpPacket = {
      version: 2,
      padding: false,
      extension: null,
      marker: this.idle,
      payloadType,
      sequenceNumber: this.sequence,
      timestamp,
      ssrc: this.ssrc,
      csrcs: [],
      payload,
    };
    this.idle = false;
    this.sequence = (this.sequence + 1) & 0xffff;
    return packet;
  }
}

function mod32(n: number): number {
  return ((n % 0x1_0000_0000) + 0x1_0000_0000) % 0x1_0000_0000;
}
