// Building the packets of one T.140 RTP stream, with RFC 2198 redundancy when a RED payload type is set
// (RFC 4103 §4, §5). T140Sender drives it for one source; T140Transmitter for a mixer's many (RFC 9071).

import { RED_MAX_BLOCK_LENGTH, RED_MAX_TIMESTAMP_OFFSET, type RedBlock, serializeRed } from './red.js';
import type { RtpPacket } from './rtp-packet.js';
import { wrapTimestamp } from './rtp-timestamp.js';
import { encodeUtf8, splitUtf8 } from './utf8.js';

export interface T140PacketizerOptions {
  /** The stream's SSRC: the sender's own, a mixer's own, or the publisher's for a translator that re-encodes. */
  ssrc: number;
  t140Pt: number;
  /** RED payload type; undefined sends plain T.140 without redundancy. */
  redPt?: number;
  /** Redundant generations carried in each packet (default 2). */
  generations?: number;
  /** Sequence number of the first packet (default random, RFC 3550 §5.1). */
  initialSequence?: number;
  /** Largest T140block in bytes (default and maximum with RED: 1023). */
  maxBlockBytes?: number;
}

interface Generation {
  data: Uint8Array;
  timestamp: number | undefined; // undefined: filler before the source's first packet
}

/** What one source has sent on the stream: the text its next packets repeat, and where a burst starts. */
export interface T140SourceHistory {
  /** The source's last `generations` primaries, oldest first. */
  history: Generation[];
  /** The source's next packet starts a burst and gets the marker bit (RFC 4103 §3). */
  idle: boolean;
}

export const EMPTY_T140_BLOCK = new Uint8Array(0);

export class T140Packetizer {
  /** Redundant generations per packet: 0 without RED. */
  readonly generations: number;
  private readonly ssrc: number;
  private readonly t140Pt: number;
  private readonly redPt: number | undefined;
  private readonly maxBlockBytes: number;
  private sequence: number;

  constructor(opts: T140PacketizerOptions) {
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
  }

  /** A source that has sent nothing yet: filler generations, and its first packet is marked. */
  newSource(): T140SourceHistory {
    return {
      history: Array.from({ length: this.generations }, () => ({
        data: EMPTY_T140_BLOCK,
        timestamp: undefined,
      })),
      idle: true,
    };
  }

  /** `text` as T140blocks of at most maxBlockBytes, cut between characters. */
  blocks(text: string): Uint8Array[] {
    return splitUtf8(encodeUtf8(text), this.maxBlockBytes);
  }

  /** The stream's next packet: `primary` from `source`, after that source's earlier text when RED is on. */
  packetize(source: T140SourceHistory, primary: Uint8Array, timestamp: number, csrcs: number[]): RtpPacket {
    let payload: Uint8Array = primary;
    let payloadType = this.t140Pt;
    if (this.redPt !== undefined) {
      const redundant: RedBlock[] = source.history.map((g) => ({
        payloadType: this.t140Pt,
        // An offset beyond 14 bits cannot be expressed; keep the text, whose order is what matters.
        timestampOffset:
          g.timestamp === undefined
            ? 0
            : Math.min(wrapTimestamp(timestamp - g.timestamp), RED_MAX_TIMESTAMP_OFFSET),
        data: g.data,
      }));
      payload = serializeRed({ redundant, primary: { payloadType: this.t140Pt, data: primary } });
      payloadType = this.redPt;
      source.history.shift();
      source.history.push({ data: primary, timestamp });
    }
    const packet: RtpPacket = {
      version: 2,
      padding: false,
      extension: null,
      marker: source.idle,
      payloadType,
      sequenceNumber: this.sequence,
      timestamp,
      ssrc: this.ssrc,
      csrcs,
      payload,
    };
    source.idle = false;
    this.sequence = (this.sequence + 1) & 0xffff;
    return packet;
  }
}
