// RTCP packets (RFC 3550 §6.4–§6.6): SR, RR, SDES, BYE, and compound packets (§6.1).

/** One reception report block (RFC 3550 §6.4.1). */
export interface ReportBlock {
  ssrc: number;
  /** Fraction lost since the previous report, as an 8-bit fixed-point number (0–255). */
  fractionLost: number;
  /** Cumulative packets lost, signed 24 bits (duplicates can make it negative). */
  cumulativeLost: number;
  /** Extended highest sequence number received (cycles << 16 | highest). */
  highestSequence: number;
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR from this source, 0 when none. */
  lastSr: number;
  /** Delay since that SR in units of 1/65536 s. */
  delaySinceLastSr: number;
}

export interface SenderReport {
  type: 'sr';
  ssrc: number;
  ntpSeconds: number;
  ntpFraction: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  reports: ReportBlock[];
  /** Profile-specific extension (§6.4.1), a whole number of 32-bit words. */
  extension?: Uint8Array;
}

export interface ReceiverReport {
  type: 'rr';
  ssrc: number;
  reports: ReportBlock[];
  extension?: Uint8Array;
}

/** SDES item types (RFC 3550 §6.5). */
export const SDES_CNAME = 1;

export interface SdesItem {
  type: number;
  text: string;
}

export interface SourceDescription {
  type: 'sdes';
  chunks: { ssrc: number; items: SdesItem[] }[];
}

export interface Goodbye {
  type: 'bye';
  ssrcs: number[];
  reason?: string;
}

/** Any other RTCP packet (APP, feedback, XR …), kept as its count field and body. */
export interface OtherRtcp {
  type: 'other';
  packetType: number;
  count: number;
  body: Uint8Array;
}

export type RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | OtherRtcp;

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;

export class RtcpParseError extends Error {
  override readonly name = 'RtcpParseError';
}

export class RtcpSerializeError extends Error {
  override readonly name = 'RtcpSerializeError';
}

const REPORT_BLOCK_SIZE = 24;
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * Parses a compound RTCP packet into its parts. Checks the version of every part, that lengths add up
 * to the datagram, and that only the last part is padded (§6.4.1, §A.2). Body data are views into `buf`.
 */
export function parseRtcp(buf: Uint8Array): RtcpPacket[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const packets: RtcpPacket[] = [];
  let offset = 0;
  if (buf.length < 4)
    throw new RtcpParseError(`datagram of ${buf.length} bytes is shorter than an RTCP header`);
  while (offset < buf.length) {
    if (offset + 4 > buf.length)
      throw new RtcpParseError(`${buf.length - offset} stray bytes after the last RTCP packet`);
    const b0 = buf[offset];
    if (b0 >> 6 !== 2) throw new RtcpParseError(`RTCP version ${b0 >> 6} at byte ${offset}, expected 2`);
    const padded = (b0 & 0x20) !== 0;
    const count = b0 & 0x1f;
    const packetType = buf[offset + 1];
    const size = (view.getUint16(offset + 2) + 1) * 4;
    const end = offset + size;
    if (end > buf.length)
      throw new RtcpParseError(`RTCP packet type ${packetType} of ${size} bytes overruns the datagram`);
    let bodyEnd = end;
    if (padded) {
      if (end !== buf.length)
        throw new RtcpParseError('only the last packet of a compound packet may be padded');
      const pad = buf[end - 1];
      if (pad === 0 || pad > size - 4) throw new RtcpParseError(`padding count ${pad} is invalid`);
      bodyEnd -= pad;
    }
    packets.push(parseOne(buf, view, packetType, count, offset + 4, bodyEnd));
    offset = end;
  }
  return packets;
}

function parseOne(
  buf: Uint8Array,
  view: DataView,
  packetType: number,
  count: number,
  start: number,
  end: number,
): RtcpPacket {
  const need = (bytes: number, what: string) => {
    if (start + bytes > end)
      throw new RtcpParseError(`${what} needs ${bytes} bytes, the packet has ${end - start}`);
  };
  switch (packetType) {
    case RTCP_SR: {
      need(24 + count * REPORT_BLOCK_SIZE, `SR with ${count} report blocks`);
      const reportsAt = start + 24;
      const sr: SenderReport = {
        type: 'sr',
        ssrc: view.getUint32(start),
        ntpSeconds: view.getUint32(start + 4),
        ntpFraction: view.getUint32(start + 8),
        rtpTimestamp: view.getUint32(start + 12),
        packetCount: view.getUint32(start + 16),
        octetCount: view.getUint32(start + 20),
        reports: parseReportBlocks(view, reportsAt, count),
      };
      const extAt = reportsAt + count * REPORT_BLOCK_SIZE;
      if (extAt < end) sr.extension = buf.subarray(extAt, end);
      return sr;
    }
    case RTCP_RR: {
      need(4 + count * REPORT_BLOCK_SIZE, `RR with ${count} report blocks`);
      const rr: ReceiverReport = {
        type: 'rr',
        ssrc: view.getUint32(start),
        reports: parseReportBlocks(view, start + 4, count),
      };
      const extAt = start + 4 + count * REPORT_BLOCK_SIZE;
      if (extAt < end) rr.extension = buf.subarray(extAt, end);
      return rr;
    }
    case RTCP_SDES:
      return { type: 'sdes', chunks: parseSdesChunks(buf, view, count, start, end) };
    case RTCP_BYE: {
      need(count * 4, `BYE with ${count} sources`);
      const ssrcs: number[] = [];
      for (let i = 0; i < count; i++) ssrcs.push(view.getUint32(start + i * 4));
      const bye: Goodbye = { type: 'bye', ssrcs };
      const reasonAt = start + count * 4;
      if (reasonAt < end) {
        const length = buf[reasonAt];
        if (reasonAt + 1 + length > end)
          throw new RtcpParseError(`BYE reason of ${length} bytes overruns the packet`);
        bye.reason = decodeText(buf.subarray(reasonAt + 1, reasonAt + 1 + length), 'BYE reason');
      }
      return bye;
    }
    default:
      return { type: 'other', packetType, count, body: buf.subarray(start, end) };
  }
}

function parseReportBlocks(view: DataView, at: number, count: number): ReportBlock[] {
  const blocks: ReportBlock[] = [];
  for (let i = 0; i < count; i++, at += REPORT_BLOCK_SIZE) {
    const lossWord = view.getUint32(at + 4);
    const cumulative = lossWord & 0xffffff;
    blocks.push({
      ssrc: view.getUint32(at),
      fractionLost: lossWord >>> 24,
      // 24-bit two's complement (§6.4.1 "cumulative number of packets lost").
      cumulativeLost: cumulative & 0x800000 ? cumulative - 0x1000000 : cumulative,
      highestSequence: view.getUint32(at + 8),
      jitter: view.getUint32(at + 12),
      lastSr: view.getUint32(at + 16),
      delaySinceLastSr: view.getUint32(at + 20),
    });
  }
  return blocks;
}

function parseSdesChunks(
  buf: Uint8Array,
  view: DataView,
  count: number,
  start: number,
  end: number,
): SourceDescription['chunks'] {
  const chunks: SourceDescription['chunks'] = [];
  let at = start;
  for (let c = 0; c < count; c++) {
    if (at + 4 > end) throw new RtcpParseError(`SDES chunk ${c + 1} of ${count} is missing`);
    const ssrc = view.getUint32(at);
    at += 4;
    const items: SdesItem[] = [];
    for (;;) {
      if (at >= end) throw new RtcpParseError(`SDES chunk ${c + 1} has no END item`);
      const type = buf[at];
      if (type === 0) break;
      if (at + 2 > end) throw new RtcpParseError(`SDES item of type ${type} is truncated`);
      const length = buf[at + 1];
      if (at + 2 + length > end)
        throw new RtcpParseError(`SDES item of type ${type} and ${length} bytes overruns the packet`);
      items.push({ type, text: decodeText(buf.subarray(at + 2, at + 2 + length), `SDES item type ${type}`) });
      at += 2 + length;
    }
    // The null item ends the list; the chunk then pads with nulls to a 32-bit boundary (§6.5).
    at = start + alignUp(at + 1 - start);
    chunks.push({ ssrc, items });
  }
  return chunks;
}

function decodeText(bytes: Uint8Array, what: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new RtcpParseError(`${what} is not UTF-8`);
  }
}

function alignUp(n: number): number {
  return (n + 3) & ~3;
}

function checkUint(value: number, bits: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new RtcpSerializeError(`${what} ${value} is not a ${bits}-bit unsigned integer`);
  }
}

/** Mirror image of parseRtcp: the parts of a compound packet, in order, in one buffer without padding. */
export function serializeRtcp(packets: readonly RtcpPacket[]): Buffer {
  const parts = packets.map(serializeOne);
  return Buffer.concat(parts);
}

function serializeOne(p: RtcpPacket): Buffer {
  switch (p.type) {
    case 'sr': {
      checkReportCount(p.reports.length);
      const ext = checkExtension(p.extension);
      const out = header(RTCP_SR, p.reports.length, 24 + p.reports.length * REPORT_BLOCK_SIZE + ext.length);
      const fields = [p.ssrc, p.ntpSeconds, p.ntpFraction, p.rtpTimestamp, p.packetCount, p.octetCount];
      const names = ['SSRC', 'NTP seconds', 'NTP fraction', 'RTP timestamp', 'packet count', 'octet count'];
      fields.forEach((v, i) => {
        checkUint(v, 32, names[i]);
        out.writeUInt32BE(v, 4 + i * 4);
      });
      writeReportBlocks(out, 28, p.reports);
      out.set(ext, 28 + p.reports.length * REPORT_BLOCK_SIZE);
      return out;
    }
    case 'rr': {
      checkReportCount(p.reports.length);
      const ext = checkExtension(p.extension);
      const out = header(RTCP_RR, p.reports.length, 4 + p.reports.length * REPORT_BLOCK_SIZE + ext.length);
      checkUint(p.ssrc, 32, 'SSRC');
      out.writeUInt32BE(p.ssrc, 4);
      writeReportBlocks(out, 8, p.reports);
      out.set(ext, 8 + p.reports.length * REPORT_BLOCK_SIZE);
      return out;
    }
    case 'sdes': {
      if (p.chunks.length > 31)
        throw new RtcpSerializeError(`${p.chunks.length} SDES chunks, at most 31 fit`);
      const encoded = p.chunks.map((chunk) => {
        checkUint(chunk.ssrc, 32, 'SSRC');
        const items = chunk.items.map((item) => {
          checkUint(item.type, 8, 'SDES item type');
          if (item.type === 0) throw new RtcpSerializeError('SDES item type 0 is the END marker');
          const text = utf8Encoder.encode(item.text);
          if (text.length > 255)
            throw new RtcpSerializeError(`SDES item of ${text.length} bytes exceeds 255`);
          return { type: item.type, text };
        });
        const length = alignUp(4 + items.reduce((n, i) => n + 2 + i.text.length, 0) + 1);
        const out = Buffer.alloc(length);
        out.writeUInt32BE(chunk.ssrc, 0);
        let at = 4;
        for (const item of items) {
          out[at] = item.type;
          out[at + 1] = item.text.length;
          out.set(item.text, at + 2);
          at += 2 + item.text.length;
        }
        return out;
      });
      const body = Buffer.concat(encoded);
      const out = header(RTCP_SDES, p.chunks.length, body.length);
      out.set(body, 4);
      return out;
    }
    case 'bye': {
      if (p.ssrcs.length > 31) throw new RtcpSerializeError(`${p.ssrcs.length} BYE sources, at most 31 fit`);
      const reason = p.reason === undefined ? undefined : utf8Encoder.encode(p.reason);
      if (reason && reason.length > 255)
        throw new RtcpSerializeError(`BYE reason of ${reason.length} bytes exceeds 255`);
      const out = header(
        RTCP_BYE,
        p.ssrcs.length,
        alignUp(p.ssrcs.length * 4 + (reason ? 1 + reason.length : 0)),
      );
      p.ssrcs.forEach((ssrc, i) => {
        checkUint(ssrc, 32, 'SSRC');
        out.writeUInt32BE(ssrc, 4 + i * 4);
      });
      if (reason) {
        out[4 + p.ssrcs.length * 4] = reason.length;
        out.set(reason, 5 + p.ssrcs.length * 4);
      }
      return out;
    }
    case 'other': {
      checkUint(p.packetType, 8, 'packet type');
      checkUint(p.count, 5, 'count');
      if (p.body.length % 4 !== 0)
        throw new RtcpSerializeError(`packet body of ${p.body.length} bytes is not a whole number of words`);
      const out = header(p.packetType, p.count, p.body.length);
      out.set(p.body, 4);
      return out;
    }
  }
}

function header(packetType: number, count: number, bodyLength: number): Buffer {
  const words = bodyLength / 4;
  if (words > 0xfffe) throw new RtcpSerializeError(`RTCP packet of ${bodyLength + 4} bytes is too long`);
  const out = Buffer.alloc(4 + bodyLength);
  out[0] = 0x80 | count;
  out[1] = packetType;
  out.writeUInt16BE(words, 2);
  return out;
}

function checkReportCount(n: number): void {
  if (n > 31) throw new RtcpSerializeError(`${n} report blocks, at most 31 fit`);
}

function checkExtension(ext: Uint8Array | undefined): Uint8Array {
  if (!ext) return new Uint8Array(0);
  if (ext.length % 4 !== 0)
    throw new RtcpSerializeError(`profile extension of ${ext.length} bytes is not a whole number of words`);
  return ext;
}

function writeReportBlocks(out: Buffer, at: number, blocks: readonly ReportBlock[]): void {
  for (const b of blocks) {
    checkUint(b.ssrc, 32, 'report SSRC');
    checkUint(b.fractionLost, 8, 'fraction lost');
    if (!Number.isInteger(b.cumulativeLost) || b.cumulativeLost < -0x800000 || b.cumulativeLost > 0x7fffff) {
      throw new RtcpSerializeError(`cumulative lost ${b.cumulativeLost} does not fit 24 signed bits`);
    }
    checkUint(b.highestSequence, 32, 'extended highest sequence');
    checkUint(b.jitter, 32, 'jitter');
    checkUint(b.lastSr, 32, 'LSR');
    checkUint(b.delaySinceLastSr, 32, 'DLSR');
    out.writeUInt32BE(b.ssrc, at);
    out.writeUInt32BE(((b.fractionLost << 24) | (b.cumulativeLost & 0xffffff)) >>> 0, at + 4);
    out.writeUInt32BE(b.highestSequence, at + 8);
    out.writeUInt32BE(b.jitter, at + 12);
    out.writeUInt32BE(b.lastSr, at + 16);
    out.writeUInt32BE(b.delaySinceLastSr, at + 20);
    at += REPORT_BLOCK_SIZE;
  }
}

/** A compound packet must start with an SR or RR (RFC 3550 §6.1) and should carry a CNAME. */
export function isValidCompound(packets: readonly RtcpPacket[]): boolean {
  if (packets.length === 0) return false;
  const first = packets[0].type;
  return first === 'sr' || first === 'rr';
}
