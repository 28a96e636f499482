// Per-source reception statistics for RTCP reports (RFC 3550 §6.4.1, §A.1, §A.3, §A.8): extended
// sequence numbers, expected/received/lost, fraction lost per interval, interarrival jitter.
// Numbers only, no allocation per packet: it sits on the relay's hot path.

import type { ReportBlock } from './rtcp-packet.js';

const SEQ_MOD = 0x10000;
/** A jump larger than this is a restart, not a loss (§A.1 MAX_DROPOUT). */
const MAX_DROPOUT = 3000;
/** Packets this far behind are old duplicates or reordered (§A.1 MAX_MISORDER). */
const MAX_MISORDER = 100;

export class RtpReceptionStatistics {
  /** Packets received, duplicates included (§A.3 "received"). */
  received = 0;
  private started = false;
  private baseSeq = 0;
  private maxSeq = 0;
  private cycles = 0;
  /** Sequence number that would confirm a restart after a large jump (§A.1 bad_seq). */
  private badSeq = -1;
  private expectedPrior = 0;
  private receivedPrior = 0;
  /** Interarrival jitter estimate scaled by 16 (§A.8). */
  private jitterQ4 = 0;
  private lastTransit = 0;
  private hasTransit = false;
  private lastSrMiddle = 0;
  private lastSrArrivalMs = 0;

  constructor(
    readonly ssrc: number,
    /** RTP clock rate of the payload (1000 for T.140, RFC 4103 §3). */
    private readonly clockRate = 1000,
  ) {}

  /** Takes one RTP packet's sequence number and timestamp with its arrival time. */
  onPacket(sequenceNumber: number, rtpTimestamp: number, arrivalMs: number): void {
    if (!this.started) {
      this.restart(sequenceNumber);
      this.started = true;
    } else {
      const delta = (sequenceNumber - this.maxSeq + SEQ_MOD) % SEQ_MOD;
      if (delta < MAX_DROPOUT) {
        // In order, possibly with a gap; a wrap past zero starts a new cycle.
        if (sequenceNumber < this.maxSeq) this.cycles += SEQ_MOD;
        this.maxSeq = sequenceNumber;
        this.badSeq = -1;
      } else if (delta <= SEQ_MOD - MAX_MISORDER) {
        // A very large jump: the source restarted unless the next packet says otherwise.
        if (sequenceNumber === this.badSeq) {
          this.restart(sequenceNumber);
        } else {
          this.badSeq = (sequenceNumber + 1) % SEQ_MOD;
          return;
        }
      }
      // Otherwise a duplicate or reordered packet: counted as received, the maximum stays.
    }
    this.received += 1;
    // Jitter from the change in transit time, in timestamp units (§6.4.1, §A.8).
    const arrival = Math.floor((arrivalMs * this.clockRate) / 1000);
    const transit = (arrival - rtpTimestamp) | 0;
    if (this.hasTransit) {
      const d = Math.abs((transit - this.lastTransit) | 0);
      this.jitterQ4 += d - ((this.jitterQ4 + 8) >> 4);
    }
    this.lastTransit = transit;
    this.hasTransit = true;
  }

  /** Records a sender report from this source, for LSR/DLSR in our next report (§6.4.1). */
  onSenderReport(ntpSeconds: number, ntpFraction: number, arrivalMs: number): void {
    this.lastSrMiddle = (((ntpSeconds & 0xffff) << 16) | (ntpFraction >>> 16)) >>> 0;
    this.lastSrArrivalMs = arrivalMs;
  }

  get extendedHighestSequence(): number {
    return (this.cycles + this.maxSeq) >>> 0;
  }

  get expected(): number {
    return this.started ? this.cycles + this.maxSeq - this.baseSeq + 1 : 0;
  }

  /** Packets lost since the start; negative when duplicates outnumber losses (§A.3). */
  get cumulativeLost(): number {
    return this.expected - this.received;
  }

  get jitter(): number {
    return this.jitterQ4 >> 4;
  }

  /**
   * A report block for this source, closing the current interval: the fraction lost covers the packets
   * expected since the previous call (§A.3). Returns undefined before the first packet.
   */
  report(nowMs: number): ReportBlock | undefined {
    if (!this.started) return undefined;
    const expected = this.expected;
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost =
      expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval * 256) / expectedInterval);
    const lost = Math.max(-0x800000, Math.min(0x7fffff, this.cumulativeLost));
    return {
      ssrc: this.ssrc >>> 0,
      fractionLost: Math.min(255, fractionLost),
      cumulativeLost: lost,
      highestSequence: this.extendedHighestSequence,
      jitter: this.jitter >>> 0,
      lastSr: this.lastSrMiddle,
      delaySinceLastSr:
        this.lastSrMiddle === 0 ? 0 : Math.floor(((nowMs - this.lastSrArrivalMs) * 65536) / 1000) >>> 0,
    };
  }

  private restart(sequenceNumber: number): void {
    this.baseSeq = sequenceNumber;
    this.maxSeq = sequenceNumber;
    this.cycles = 0;
    this.badSeq = -1;
    this.received = 0;
    this.expectedPrior = 0;
    this.receivedPrior = 0;
  }
}

/** NTP timestamp (RFC 3550 §4) of a Unix time in milliseconds. */
export function ntpTimestamp(unixMs: number): { seconds: number; fraction: number } {
  const seconds = Math.floor(unixMs / 1000) + 2_208_988_800;
  const fraction = Math.floor(((unixMs % 1000) / 1000) * 0x1_0000_0000);
  return { seconds: seconds >>> 0, fraction: fraction >>> 0 };
}
