// An RTP translator may rewrite payload type numbers (RFC 3550 §7.1): each leg's answer keeps the numbers
// its offerer chose (RFC 3264), so a publisher's t140/red numbers need not be a subscriber's. This maps a
// T.140 packet, plain or RED (RFC 2198), from one leg's numbers to another's without touching anything else.

export interface T140PayloadTypes {
  t140Pt: number;
  /** Undefined when the leg did not negotiate RED. */
  redPt?: number;
}

export function samePayloadTypes(a: T140PayloadTypes, b: T140PayloadTypes): boolean {
  return a.t140Pt === b.t140Pt && (a.redPt ?? -1) === (b.redPt ?? -1);
}

/**
 * The packet with `to`'s payload types; the input itself when nothing changes, else a copy. A RED packet for
 * a leg without RED becomes a plain T.140 packet carrying its primary block (its redundancy cannot be
 * sent). Returns undefined for a packet that is neither of `from`'s types or a RED payload that does not
 * parse, so the caller drops it.
 */
export function remapT140PayloadTypes(
  packet: Uint8Array,
  from: T140PayloadTypes,
  to: T140PayloadTypes,
): Uint8Array | undefined {
  if (packet.length < 12) return undefined;
  const csrcCount = packet[0] & 0x0f;
  let offset = 12 + 4 * csrcCount;
  if (packet[0] & 0x10) {
    if (offset + 4 > packet.length) return undefined;
    offset += 4 + 4 * ((packet[offset + 2] << 8) | packet[offset + 3]);
  }
  if (offset > packet.length) return undefined;
  const pt = packet[1] & 0x7f;
  const isRed = from.redPt !== undefined && pt === from.redPt;
  if (!isRed && pt !== from.t140Pt) return undefined;
  if (samePayloadTypes(from, to)) return packet;

  if (!isRed) {
    const out = Uint8Array.from(packet);
    out[1] = (out[1] & 0x80) | to.t140Pt;
    return out;
  }
  // RED: block headers (4 bytes each while F=1, then one byte), then the blocks (RFC 2198 §3).
  let h = offset;
  let redundantBytes = 0;
  while (h < packet.length && packet[h] & 0x80) {
    if (h + 4 > packet.length) return undefined;
    redundantBytes += ((packet[h + 2] & 0x03) << 8) | packet[h + 3];
    h += 4;
  }
  if (h >= packet.length) return undefined;
  const primaryStart = h + 1 + redundantBytes;
  if (primaryStart > packet.length) return undefined;

  if (to.redPt === undefined) {
    // Only the primary can go to a leg without RED. Padding (P bit) is dropped with the RED payload.
    const primary = packet.subarray(primaryStart, packetEnd(packet));
    const out = new Uint8Array(offset + primary.length);
    out.set(packet.subarray(0, offset));
    out[0] &= ~0x20;
    out[1] = (packet[1] & 0x80) | to.t140Pt;
    out.set(primary, offset);
    return out;
  }
  const out = Uint8Array.from(packet);
  out[1] = (out[1] & 0x80) | to.redPt;
  for (let b = offset; b < h; b += 4) out[b] = 0x80 | remapBlock(out[b] & 0x7f, from, to);
  out[h] = remapBlock(out[h] & 0x7f, from, to);
  return out;
}

function remapBlock(pt: number, from: T140PayloadTypes, to: T140PayloadTypes): number {
  return pt === from.t140Pt ? to.t140Pt : pt;
}

/** End of the payload, before RTP padding (RFC 3550 §5.1). */
function packetEnd(packet: Uint8Array): number {
  if (!(packet[0] & 0x20)) return packet.length;
  return Math.max(0, packet.length - packet[packet.length - 1]);
}
