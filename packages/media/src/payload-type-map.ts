// An RTP translator may rewrite payload type numbers (RFC 3550 §7.1): each leg's answer keeps the numbers
// its offerer chose (RFC 3264), so a publisher's t140/red numbers need not be a subscriber's. This maps a
// T.140 packet, plain or RED (RFC 2198), from one leg's numbers to another's without touching anything else.

import { RedLayout, walkRed } from './red-layout.js';
import { RTP_VIEW_OK, RtpView } from './rtp-view.js';

export interface T140PayloadTypes {
  t140Pt: number;
  /** Undefined when the leg did not negotiate RED. */
  redPt?: number;
}

export function samePayloadTypes(a: T140PayloadTypes, b: T140PayloadTypes): boolean {
  return a.t140Pt === b.t140Pt && (a.redPt ?? -1) === (b.redPt ?? -1);
}

/** One number per distinct pair of payload types, so legs compare their maps with `===`. */
export function payloadTypesKey(p: T140PayloadTypes): number {
  return p.t140Pt | ((p.redPt ?? 0xff) << 8);
}

// Scratch readings: the rewrite is synchronous and never re-entered, so one of each serves every call.
const view = new RtpView();
const red = new RedLayout();

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
  if (view.read(packet) !== RTP_VIEW_OK) return undefined;
  const pt = view.payloadType;
  const isRed = from.redPt !== undefined && pt === from.redPt;
  if (!isRed && pt !== from.t140Pt) return undefined;
  if (samePayloadTypes(from, to)) return packet;

  if (!isRed) {
    const out = Uint8Array.from(packet);
    out[1] = (out[1] & 0x80) | to.t140Pt;
    return out;
  }
  const offset = view.payloadOffset;
  if (walkRed(packet, offset, view.payloadEnd, red) !== 0) return undefined;

  if (to.redPt === undefined) {
    // Only the primary can go to a leg without RED. Padding (P bit) is dropped with the RED payload.
    const primary = packet.subarray(red.primaryStart, red.primaryEnd);
    const out = new Uint8Array(offset + primary.length);
    out.set(packet.subarray(0, offset));
    out[0] &= ~0x20;
    out[1] = (packet[1] & 0x80) | to.t140Pt;
    out.set(primary, offset);
    return out;
  }
  const out = Uint8Array.from(packet);
  out[1] = (out[1] & 0x80) | to.redPt;
  for (let i = 0, b = red.headersStart; i < red.count; i++, b += 4)
    out[b] = 0x80 | remapBlock(out[b] & 0x7f, from, to);
  out[red.primaryHeader] = remapBlock(out[red.primaryHeader] & 0x7f, from, to);
  return out;
}

function remapBlock(pt: number, from: T140PayloadTypes, to: T140PayloadTypes): number {
  return pt === from.t140Pt ? to.t140Pt : pt;
}
