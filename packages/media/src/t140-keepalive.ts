// T.140 packets that carry no new text are keep-alives for forwarding purposes (PROFILE "Media", RFC 6263).

import { RedLayout, walkRed } from './red-layout.js';

/** What isRedundancyOnly reads of a packet: an RtpPacket or an RtpView. */
export interface T140PacketLike {
  payloadType: number;
  payload: Uint8Array;
}

const layout = new RedLayout();

/**
 * True when a T.140 packet brings no new text: an empty plain T.140 payload, or RED whose primary is
 * empty (redundancy only) or that cannot be parsed. Packets of other payload types return false;
 * classify those with classifyDatagram.
 */
export function isRedundancyOnly(p: T140PacketLike, opts: { t140Pt: number; redPt?: number }): boolean {
  if (p.payloadType === opts.t140Pt) return p.payload.length === 0;
  if (p.payloadType !== opts.redPt) return false;
  return redundancyOnly(p.payload, 0, p.payload.length);
}

/** RED `buf[start, end)` with an empty primary block, or one that does not parse. */
export function redundancyOnly(buf: Uint8Array, start: number, end: number): boolean {
  return walkRed(buf, start, end, layout) !== 0 || layout.primaryLength === 0;
}

/** RED `buf[start, end)` that parses and whose blocks are all empty (nothing at all to forward). */
export function redCarriesNoText(buf: Uint8Array, start: number, end: number): boolean {
  return walkRed(buf, start, end, layout) === 0 && layout.redundantBytes === 0 && layout.primaryLength === 0;
}
