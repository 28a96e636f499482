// RTP fixed header, CSRC list, header extension and padding (RFC 3550 §5.1, §5.3.1).

export interface RtpPacket {
  version: number;
  padding: boolean;
  extension: { profile: number; data: Uint8Array } | null;
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrcs: number[];
  payload: Uint8Array;
  /**
   * Number of padding octets including the final count octet; set by parseRtp when `padding` is true.
   * serializeRtp uses it when present, otherwise pads to the next 32-bit boundary (at least one octet).
   */
  paddingSize?: number;
}

export class RtpParseError extends Error {
  override readonly name = 'RtpParseError';
}

export class RtpSerializeError extends Error {
  override readonly name = 'RtpSerializeError';
}

export const RTP_HEADER_SIZE = 12;
export const RTP_VERSION = 2;

/** Parses one RTP packet. The payload and extension data are views into `buf`, not copies. */
export function parseRtp(buf: Uint8Array): RtpPacket {
  if (buf.length < RTP_HEADER_SIZE) {
    throw new RtpParseError(`packet of ${buf.length} bytes is shorter than the 12-byte RTP header`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const b0 = buf[0];
  const b1 = buf[1];
  const version = b0 >> 6;
  if (version !== RTP_VERSION) throw new RtpParseError(`RTP version ${version}, expected 2`);
  const padding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;

  let offset = RTP_HEADER_SIZE;
  if (buf.length < offset + csrcCount * 4) {
    throw new RtpParseError(`CSRC count ${csrcCount} does not fit in ${buf.length} bytes`);
  }
  const csrcs: number[] = [];
  for (let i = 0; i < csrcCount; i++, offset += 4) csrcs.push(view.getUint32(offset));

  let extension: RtpPacket['extension'] = null;
  if (hasExtension) {
    if (buf.length < offset + 4) throw new RtpParseError('header extension header is truncated');
    const profile = view.getUint16(offset);
    const words = view.getUint16(offset + 2);
    offset += 4;
    if (buf.length < offset + words * 4) {
      throw new RtpParseError(`header extension of ${words} words does not fit in the packet`);
    }
    extension = { profile, data: buf.subarray(offset, offset + words * 4) };
    offset += words * 4;
  }

  let end = buf.length;
  let paddingSize: number | undefined;
  if (padding) {
    // The last octet counts the padding octets, itself included (§5.1 P bit).
    paddingSize = buf[buf.length - 1];
    if (paddingSize === 0 || paddingSize > buf.length - offset) {
      throw new RtpParseError(
        `padding count ${paddingSize} is invalid for ${buf.length - offset} payload bytes`,
      );
    }
    end -= paddingSize;
  }

  const packet: RtpPacket = {
    version,
    padding,
    extension,
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequenceNumber: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    csrcs,
    payload: buf.subarray(offset, end),
  };
  if (paddingSize !== undefined) packet.paddingSize = paddingSize;
  return packet;
}

function checkUint(value: number, bits: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new RtpSerializeError(`${what} ${value} is not a ${bits}-bit unsigned integer`);
  }
}

/** Mirror image of parseRtp: serializeRtp(parseRtp(b)) reproduces b (padding octets other than the count are zero). */
export function serializeRtp(p: RtpPacket): Buffer {
  checkUint(p.version, 2, 'version');
  checkUint(p.payloadType, 7, 'payload type');
  checkUint(p.sequenceNumber, 16, 'sequence number');
  checkUint(p.timestamp, 32, 'timestamp');
  checkUint(p.ssrc, 32, 'SSRC');
  if (p.csrcs.length > 15) throw new RtpSerializeError(`${p.csrcs.length} CSRCs, at most 15 fit`);
  for (const csrc of p.csrcs) checkUint(csrc, 32, 'CSRC');
  const ext = p.extension;
  if (ext) {
    checkUint(ext.profile, 16, 'extension profile');
    if (ext.data.length % 4 !== 0 || ext.data.length / 4 > 0xffff) {
      throw new RtpSerializeError(
        `extension data of ${ext.data.length} bytes is not a whole number of words`,
      );
    }
  }
  let paddingSize = 0;
  const unpadded = RTP_HEADER_SIZE + p.csrcs.length * 4 + (ext ? 4 + ext.data.length : 0) + p.payload.length;
  if (p.padding) {
    paddingSize = p.paddingSize ?? 4 - (unpadded % 4);
    checkUint(paddingSize, 8, 'padding size');
    if (paddingSize === 0) throw new RtpSerializeError('padding size must be at least 1');
  }

  const out = Buffer.alloc(unpadded + paddingSize);
  out[0] = (p.version << 6) | (p.padding ? 0x20 : 0) | (ext ? 0x10 : 0) | p.csrcs.length;
  out[1] = (p.marker ? 0x80 : 0) | p.payloadType;
  out.writeUInt16BE(p.sequenceNumber, 2);
  out.writeUInt32BE(p.timestamp, 4);
  out.writeUInt32BE(p.ssrc, 8);
  let offset = RTP_HEADER_SIZE;
  for (const csrc of p.csrcs) {
    out.writeUInt32BE(csrc, offset);
    offset += 4;
  }
  if (ext) {
    out.writeUInt16BE(ext.profile, offset);
    out.writeUInt16BE(ext.data.length / 4, offset + 2);
    out.set(ext.data, offset + 4);
    offset += 4 + ext.data.length;
  }
  out.set(p.payload, offset);
  if (paddingSize > 0) out[out.length - 1] = paddingSize;
  return out;
}
