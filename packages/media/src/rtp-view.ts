// An RTP packet read in place (RFC 3550 §5.1): the fixed header's fields and where the payload lies in the
// received buffer, without copying or allocating. One view is reused for packet after packet on the hot
// path; parseRtp builds its RtpPacket object from the same reading.

export const RTP_VIEW_OK = 0;
export const RTP_TOO_SHORT = 1;
export const RTP_BAD_VERSION = 2;
export const RTP_CSRC_OVERRUN = 3;
export const RTP_EXTENSION_TRUNCATED = 4;
export const RTP_EXTENSION_OVERRUN = 5;
export const RTP_BAD_PADDING = 6;
export type RtpViewError =
  | typeof RTP_TOO_SHORT
  | typeof RTP_BAD_VERSION
  | typeof RTP_CSRC_OVERRUN
  | typeof RTP_EXTENSION_TRUNCATED
  | typeof RTP_EXTENSION_OVERRUN
  | typeof RTP_BAD_PADDING;

export class RtpView {
  buffer: Uint8Array = new Uint8Array(0);
  version = 0;
  padding = false;
  hasExtension = false;
  marker = false;
  payloadType = 0;
  sequenceNumber = 0;
  timestamp = 0;
  ssrc = 0;
  csrcCount = 0;
  /** Offset of the extension's 4-byte header when hasExtension, and its data length in bytes. */
  extensionOffset = 0;
  extensionLength = 0;
  /** The payload is buffer[payloadOffset, payloadEnd): after the header, before any padding. */
  payloadOffset = 0;
  payloadEnd = 0;
  /** Padding octets including the count octet, 0 without padding. */
  paddingSize = 0;
  private payloadCache: Uint8Array | undefined;

  /** Reads `buf` into this view; RTP_VIEW_OK or why it is not an RTP packet. */
  read(buf: Uint8Array): typeof RTP_VIEW_OK | RtpViewError {
    this.buffer = buf;
    this.payloadCache = undefined;
    const length = buf.length;
    if (length < 12) return RTP_TOO_SHORT;
    const b0 = buf[0];
    this.version = b0 >> 6;
    if (this.version !== 2) return RTP_BAD_VERSION;
    this.padding = (b0 & 0x20) !== 0;
    this.hasExtension = (b0 & 0x10) !== 0;
    this.csrcCount = b0 & 0x0f;
    const b1 = buf[1];
    this.marker = (b1 & 0x80) !== 0;
    this.payloadType = b1 & 0x7f;
    this.sequenceNumber = (buf[2] << 8) | buf[3];
    this.timestamp = ((buf[4] << 24) | (buf[5] << 16) | (buf[6] << 8) | buf[7]) >>> 0;
    this.ssrc = ((buf[8] << 24) | (buf[9] << 16) | (buf[10] << 8) | buf[11]) >>> 0;
    let offset = 12 + this.csrcCount * 4;
    if (length < offset) return RTP_CSRC_OVERRUN;
    if (this.hasExtension) {
      if (length < offset + 4) return RTP_EXTENSION_TRUNCATED;
      this.extensionOffset = offset;
      this.extensionLength = ((buf[offset + 2] << 8) | buf[offset + 3]) * 4;
      offset += 4;
      if (length < offset + this.extensionLength) return RTP_EXTENSION_OVERRUN;
      offset += this.extensionLength;
    } else {
      this.extensionOffset = 0;
      this.extensionLength = 0;
    }
    let end = length;
    this.paddingSize = 0;
    if (this.padding) {
      // The last octet counts the padding octets, itself included (§5.1 P bit).
      const size = buf[length - 1];
      if (size === 0 || size > length - offset) return RTP_BAD_PADDING;
      this.paddingSize = size;
      end -= size;
    }
    this.payloadOffset = offset;
    this.payloadEnd = end;
    return RTP_VIEW_OK;
  }

  get payloadLength(): number {
    return this.payloadEnd - this.payloadOffset;
  }

  /** The payload as a view into the buffer (made once per read, on first use). */
  get payload(): Uint8Array {
    this.payloadCache ??= this.buffer.subarray(this.payloadOffset, this.payloadEnd);
    return this.payloadCache;
  }

  csrc(i: number): number {
    const o = 12 + i * 4;
    const b = this.buffer;
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }
}
