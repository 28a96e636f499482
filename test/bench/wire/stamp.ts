// The publication every fan-out benchmark sends, the same bytes over RTP, MQTT and NATS: one SenML pack
// whose name carries the ramp step, the publisher, its sequence number and the send time (µs of the
// system-wide monotonic clock, so a receiver in another process can subtract it). Receivers read the
// stamp back from the bytes without decoding JSON.

/** `[{"n":"b<step>.<pub>.<seq>.<sentUs>","u":"Cel","v":21.5}]` */
export function stampedPack(step: number, pub: number, seq: number, sentUs: number): string {
  return `[{"n":"b${step}.${pub}.${seq}.${sentUs}","u":"Cel","v":21.5}]`;
}

const MARK = Buffer.from('"n":"b');

export interface Stamp {
  step: number;
  pub: number;
  seq: number;
  sentUs: number;
}

/** The stamp of the first stamped pack in buf[start, end), or undefined when there is none. */
export function readStamp(buf: Buffer, start: number, end: number): Stamp | undefined {
  const at = buf.indexOf(MARK, start);
  if (at < 0 || at + MARK.length >= end) return undefined;
  const fields = [0, 0, 0, 0];
  let i = at + MARK.length;
  for (let f = 0; f < 4; f++) {
    const from = i;
    let n = 0;
    while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) n = n * 10 + (buf[i++] - 0x30);
    if (i === from) return undefined;
    const want = f < 3 ? 0x2e : 0x22; // '.' between fields, '"' after the last
    if (i >= end || buf[i] !== want) return undefined;
    i++;
    fields[f] = n;
  }
  return { step: fields[0], pub: fields[1], seq: fields[2], sentUs: fields[3] };
}

/**
 * Where the primary block of a T.140 RTP packet starts (RFC 4103 §4 over RFC 2198 RED when the payload
 * type is `redPt`): past the fixed header, CSRCs, an extension, and the RED block headers with the
 * redundant generations they announce. -1 when the packet is too short for what its header says.
 */
export function primaryBlockStart(packet: Buffer, redPt: number): number {
  if (packet.length < 12) return -1;
  let offset = 12 + (packet[0] & 0x0f) * 4;
  if (packet[0] & 0x10) {
    if (offset + 4 > packet.length) return -1;
    offset += 4 + packet.readUInt16BE(offset + 2) * 4;
  }
  if (offset > packet.length) return -1;
  if ((packet[1] & 0x7f) !== redPt) return offset;
  let redundant = 0;
  while (offset < packet.length && packet[offset] & 0x80) {
    if (offset + 4 > packet.length) return -1;
    redundant += ((packet[offset + 2] & 0x03) << 8) | packet[offset + 3];
    offset += 4;
  }
  offset += 1 + redundant; // the last block header is one byte
  return offset <= packet.length ? offset : -1;
}
