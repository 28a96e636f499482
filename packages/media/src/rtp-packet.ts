// RTP fixed header, CSRC list, header extension and padding (RFC 3550 §5.1, §5.3.1).

import {
  RTP_BAD_PADDING,
  RTP_BAD_VERSION,
  RTP_CSRC_OVERRUN,
  RTP_EXTENSION_OVERRUN,
  RTP_EXTENSION_TRUNCATED,
  RTP_TOO_SHORT,
  RTP_VIEW_OK,
  RtpView,
  type RtpViewError,
} from './rtp-view.js';

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
  const v = new RtpView();
  const error = v.read(buf);
  if (error !== RTP_VIEW_OK) throw new RtpParseError(rtpViewErrorMessage(v, error));
  const csrcs: number[] = [];
  for (let i = 0; i < v.csrcCount; i++) csrcs.push(v.csrc(i));
  const packet: RtpPacket = {
    version: v.version,
    padding: v.padding,
    extension: v.hasExtension
      ? {
          profile: (buf[v.extensionOffset] << 8) | buf[v.extensionOffset + 1],
          data: buf.subarray(v.extensionOffset + 4, v.extensionOffset + 4 + v.extensionLength),
        }
      : null,
    marker: v.marker,
    payloadType: v.payloadType,
    sequenceNumber: v.sequenceNumber,
    timestamp: v.timestamp,
    ssrc: v.ssrc,
    csrcs,
    payload: v.payload,
  };
  if (v.padding) packet.paddingSize = v.paddingSize;
  return packet;
}

/** What a failed RtpView.read means, for RtpParseError. */
export function rtpViewErrorMessage(v: RtpView, error: RtpViewError): string {
  const length = v.buffer.length;
  switch (error) {
    case RTP_TOO_SHORT:
      return `packet of ${length} bytes is shorter than the 12-byte RTP header`;
    case RTP_BAD_VERSION:
      return `RTP version ${v.version}, expected 2`;
    case RTP_CSRC_OVERRUN:
      return `CSRC count ${v.csrcCount} does not fit in ${length} bytes`;
    case RTP_EXTENSION_TRUNCATED:
      return 'header extension header is truncated';
    case RTP_EXTENSION_OVERRUN:
      return `header extension of ${v.extensionLength / 4} words does not fit in the packet`;
    case RTP_BAD_PADDING:
      return `padding count ${v.buffer[length - 1]} is invalid for the payload bytes`;
  }
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
