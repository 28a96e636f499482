// The invalidData `drop` policy for translate legs. Translate forwards the publisher's packets as they
// are, but a packet's text only becomes a verdict when its line ends. So packets are held until every
// line they touch is complete and valid, then released together (most publishers end a line in each
// packet, so nothing waits); a group touching an invalid or damaged line is dropped whole. Packets after
// a dropped group are renumbered (RFC 3550 §7.1 lets a translator do so) so receivers see no gap and
// never dig the dropped text out of the redundancy of the next packet.

const MAX_HELD = 64;

export class TranslateFilter {
  private held: Uint8Array[] = [];
  private groupOk = true;
  private lastGroupOk = true;
  private shift = 0;

  /**
   * A packet that brought new text. `linesOk` is false when a line it completed was invalid or damaged;
   * `lineOpen` is true when its text ends inside a line. Returns the packets to forward now.
   */
  onText(
    packet: Uint8Array,
    linesOk: boolean,
    lineOpen: boolean,
  ): { forward: Uint8Array[]; dropped: number } {
    this.held.push(packet);
    if (!linesOk) this.groupOk = false;
    if (lineOpen && this.held.length < MAX_HELD) return { forward: [], dropped: 0 };
    // A line that runs past MAX_HELD packets is too long to judge: the group is dropped.
    const ok = this.groupOk && !lineOpen;
    return this.release(ok);
  }

  /** A packet with no new text (redundancy only): follows the verdict on the text it repeats. */
  onRedundancy(packet: Uint8Array): { forward: Uint8Array[]; dropped: number } {
    if (this.held.length > 0) {
      this.held.push(packet);
      return { forward: [], dropped: 0 };
    }
    if (!this.lastGroupOk) {
      this.shift += 1;
      return { forward: [], dropped: 1 };
    }
    return { forward: [this.renumber(packet)], dropped: 0 };
  }

  private release(ok: boolean): { forward: Uint8Array[]; dropped: number } {
    const group = this.held;
    this.held = [];
    this.groupOk = true;
    this.lastGroupOk = ok;
    if (!ok) {
      this.shift += group.length;
      return { forward: [], dropped: group.length };
    }
    return { forward: group.map((p) => this.renumber(p)), dropped: 0 };
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
