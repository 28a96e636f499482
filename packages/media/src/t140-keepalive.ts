// T.140 packets that carry no new text are keep-alives for forwarding purposes (PROFILE "Media", RFC 6263).

import { parseRed, RedParseError } from './red.js';
import type { RtpPacket } from './rtp-packet.js';

/**
 * True when a T.140 packet brings no new text: an empty plain T.140 payload, or RED whose primary is
 * empty (redundancy only) or that cannot be parsed. Packets of other payload types return false;
 * classify those with classifyDatagram.
 */
export function isRedundancyOnly(p: RtpPacket, opts: { t140Pt: number; redPt?: number }): boolean {
  if (p.payloadType === opts.t140Pt) return p.payload.length === 0;
  if (p.payloadType !== opts.redPt) return false;
  try {
    return parseRed(p.payload).primary.data.length === 0;
  } catch (err) {
    if (err instanceof RedParseError) return true;
    throw err;
  }
}
