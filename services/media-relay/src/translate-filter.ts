// The invalidData `drop` policy for translate legs. Translate forwards the publisher's packets as they
// are, but a packet's text only becomes a verdict when its line ends. So packets are held until every
// line they touch is complete and valid, then released together (most publishers end a line in each
// packet, so nothing waits); a group touching an invalid or damaged line is dropped whole. Packets after
// a dropped group are renumbered (RFC 3550 §7.1 lets a translator do so) so receivers see no gap and
// never dig the dropped text out of the redundancy of the next packet.
//
// What is held is capped in packets and in bytes (issue 7, defect 3): a line that would take more is
// too long to judge, so the group is dropped as it stands and counted, the rest of that line is dropped
// when it ends, and nothing held ever reaches subscribers in one burst larger than the cap.

export const DEFAULT_MAX_HELD_PACKETS = 64;
export const DEFAULT_MAX_HELD_BYTES = 64 * 1024;

export interface TranslateFilterLimits {
  /** Packets held for one open line at most (default 64). */
  maxHeldPackets?: number;
  /** Bytes held for one open line at most (default 64 KiB). */
  maxHeldBytes?: number;
}

export interface FilterVerdict {
  forward: Uint8Array[];
  /** Packets dropped by the verdict on their line (invalid or damaged). */
  dropped: number;
  /** Packets dropped because the open line outgrew the caps. */
  overflowed: number;
}

export class TranslateFilter {
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private groupOk = true;
  private lastGroupOk = true;
  /** The open line outgrew the caps: the group that ends it is dropped too. */
  private spoiled = false;
  private shift = 0;
  private readonly maxHeldPackets: number;
  private readonly maxHeldBytes: number;

  constructor(limits: TranslateFilterLimits = {}) {
    this.maxHeldPackets = Math.max(1, limits.maxHeldPackets ?? DEFAULT_MAX_HELD_PACKETS);
    this.maxHeldBytes = Math.max(1, limits.maxHeldBytes ?? DEFAULT_MAX_HELD_BYTES);
  }

  /**
   * A packet that brought new text. `linesOk` is false when a line it completed was invalid or damaged;
   * `lineOpen` is true when its text ends inside a line. Returns the packets to forward now.
   */
  onText(packet: Uint8Array, linesOk: boolean, lineOpen: boolean): FilterVerdict {
    if (!linesOk) this.groupOk = false;
    if (lineOpen && this.wouldOverflow(packet)) return this.overflow();
    this.hold(packet);
    if (lineOpen) return { forward: [], dropped: 0, overflowed: 0 };
    const ok = this.groupOk && !this.spoiled;
    this.spoiled = false;
    return this.release(ok);
  }

  /** A packet with no new text (redundancy only): follows the verdict on the text it repeats. */
  onRedundancy(packet: Uint8Array): FilterVerdict {
    if (this.held.length > 0 || this.spoiled) {
      if (this.wouldOverflow(packet)) return this.overflow();
      this.hold(packet);
      return { forward: [], dropped: 0, overflowed: 0 };
    }
    if (!this.lastGroupOk) {
      this.shift += 1;
      return { forward: [], dropped: 1, overflowed: 0 };
    }
    return { forward: [this.renumber(packet)], dropped: 0, overflowed: 0 };
  }

  /** Packets and bytes held now (for tests and metrics). */
  get holding(): { packets: number; bytes: number } {
    return { packets: this.held.length, bytes: this.heldBytes };
  }

  private wouldOverflow(packet: Uint8Array): boolean {
    return this.held.length + 1 > this.maxHeldPackets || this.heldBytes + packet.length > this.maxHeldBytes;
  }

  private hold(packet: Uint8Array): void {
    this.held.push(packet);
    this.heldBytes += packet.length;
  }

  /** Drops what is held for the open line and this packet; the line's remainder follows when it ends. */
  private overflow(): FilterVerdict {
    const count = this.held.length + 1;
    this.held = [];
    this.heldBytes = 0;
    this.groupOk = true;
    this.spoiled = true;
    this.lastGroupOk = false;
    this.shift += count;
    return { forward: [], dropped: 0, overflowed: count };
  }

  private release(ok: boolean): FilterVerdict {
    const group = this.held;
    this.held = [];
    this.heldBytes = 0;
    this.groupOk = true;
    this.lastGroupOk = ok;
    if (!ok) {
      this.shift += group.length;
      return { forward: [], dropped: group.length, overflowed: 0 };
    }
    return { forward: group.map((p) => this.renumber(p)), dropped: 0, overflowed: 0 };
  }

  // Rewrites the 16-bit sequence number in place: the buffer is the relay's own copy of the datagram.
  private renumber(packet: Uint8Array): Uint8Array {
    if (this.shift !== 0) {
      const seq = (((packet[2] << 8) | packet[3]) - this.shift) & 0xffff;
      packet[2] = seq >> 8;
      packet[3] = seq & 0xff;
    }
    return packet;
  }
}
