// T.140 real-time text sender with optional RFC 2198 redundancy (RFC 4103 §4, §5).

import type { RtpPacket } from './rtp-packet.js';
import { wrapTimestamp } from './rtp-timestamp.js';
import {
  EMPTY_T140_BLOCK,
  T140Packetizer,
  type T140PacketizerOptions,
  type T140SourceHistory,
} from './t140-packetizer.js';

export interface T140SenderOptions extends T140PacketizerOptions {
  /** Timestamp of the first packet; later ones advance with the clock. Default: the ms clock itself. */
  initialTimestamp?: number;
}

export class T140Sender {
  private readonly packetizer: T140Packetizer;
  private readonly source: T140SourceHistory;
  private readonly initialTimestamp: number | undefined;
  private clockOrigin: number | undefined;
  private pending = 0;

  constructor(opts: T140SenderOptions) {
    this.packetizer = new T140Packetizer(opts);
    this.source = this.packetizer.newSource();
    this.initialTimestamp = opts.initialTimestamp;
  }

  /** How many redundancy-only packets drain() still has to send to push the last text through. */
  get pendingRedundancy(): number {
    return this.pending;
  }

  /** Packets carrying `text` now; more than one when it exceeds maxBlockBytes. */
  send(text: string, nowMs: number): RtpPacket[] {
    if (text.length === 0) return [];
    const timestamp = this.timestampAt(nowMs);
    const packets = this.packetizer
      .blocks(text)
      .map((block) => this.packetizer.packetize(this.source, block, timestamp, []));
    this.pending = this.packetizer.generations;
    return packets;
  }

  /** One redundancy-only packet per call while pendingRedundancy > 0, then []. */
  drain(nowMs: number): RtpPacket[] {
    if (this.pending === 0) {
      this.source.idle = true;
      return [];
    }
    const packet = this.packetizer.packetize(this.source, EMPTY_T140_BLOCK, this.timestampAt(nowMs), []);
    this.pending -= 1;
    if (this.pending === 0) this.source.idle = true;
    return [packet];
  }

  private timestampAt(nowMs: number): number {
    const ms = Math.floor(nowMs);
    if (this.initialTimestamp === undefined) return wrapTimestamp(ms);
    this.clockOrigin ??= ms;
    return wrapTimestamp(this.initialTimestamp + ms - this.clockOrigin);
  }
}
