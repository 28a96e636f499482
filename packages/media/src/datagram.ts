// Demultiplexing of what arrives on an RTP port: RTP, RTCP (RFC 5761 §4) or keep-alive (RFC 6263).

export type DatagramKind = 'rtp' | 'rtcp' | 'keepalive';

const RTCP_MIN_SIZE = 4; // common header only, e.g. a BYE with no SSRC (RFC 3550 §6.4)
const RTP_MIN_SIZE = 12;

/**
 * Classifies a datagram received on an RTP port. A second octet whose low 7 bits fall in 64–95
 * is an RTCP packet type 192–223 (RFC 5761 §4). Anything that cannot be RTP or RTCP, such as a
 * zero-length datagram or a bad version, is a keep-alive. With `knownPayloadTypes`, RTP with any
 * other payload type is a keep-alive too (RFC 6263 §4.6).
 */
export function classifyDatagram(buf: Uint8Array, knownPayloadTypes?: Iterable<number>): DatagramKind {
  if (buf.length < 2 || buf[0] >> 6 !== 2) return 'keepalive';
  const pt = buf[1] & 0x7f;
  if (pt >= 64 && pt <= 95) return buf.length >= RTCP_MIN_SIZE ? 'rtcp' : 'keepalive';
  if (buf.length < RTP_MIN_SIZE) return 'keepalive';
  if (knownPayloadTypes !== undefined) {
    for (const known of knownPayloadTypes) if (known === pt) return 'rtp';
    return 'keepalive';
  }
  return 'rtp';
}
