// Redundant audio data payload (RFC 2198 §3), used by RFC 4103 to carry earlier T140blocks.

export interface RedBlock {
  payloadType: number;
  timestampOffset: number;
  data: Uint8Array;
}

/** A RED payload; `redundant` is ordered oldest first, as on the wire. */
export interface RedPayload {
  redundant: RedBlock[];
  primary: { payloadType: number; data: Uint8Array };
}

export class RedParseError extends Error {
  override readonly name = 'RedParseError';
}

export class RedSerializeError extends Error {
  override readonly name = 'RedSerializeError';
}

export const RED_MAX_BLOCK_LENGTH = 1023; // 10-bit block length field
export const RED_MAX_TIMESTAMP_OFFSET = 16383; // 14-bit timestamp offset field

/** Parses a RED payload; block data are views into `payload`, not copies. */
export function parseRed(payload: Uint8Array): RedPayload {
  const headers: { payloadType: number; timestampOffset: number; length: number }[] = [];
  let offset = 0;
  for (;;) {
    if (offset >= payload.length) throw new RedParseError('RED header list ends before the primary header');
    const first = payload[offset];
    if ((first & 0x80) === 0) break;
    if (offset + 4 > payload.length) throw new RedParseError('truncated RED block header');
    const rest = (payload[offset + 1] << 16) | (payload[offset + 2] << 8) | payload[offset + 3];
    headers.push({ payloadType: first & 0x7f, timestampOffset: rest >> 10, length: rest & 0x3ff });
    offset += 4;
  }
  const primaryPayloadType = payload[offset] & 0x7f;
  offset += 1;

  const redundant: RedBlock[] = [];
  for (const h of headers) {
    if (offset + h.length > payload.length) {
      throw new RedParseError(
        `RED block of ${h.length} bytes exceeds the ${payload.length - offset} bytes left`,
      );
    }
    redundant.push({
      payloadType: h.payloadType,
      timestampOffset: h.timestampOffset,
      data: payload.subarray(offset, offset + h.length),
    });
    offset += h.length;
  }
  return { redundant, primary: { payloadType: primaryPayloadType, data: payload.subarray(offset) } };
}

function checkPayloadType(pt: number): void {
  if (!Number.isInteger(pt) || pt < 0 || pt > 127)
    throw new RedSerializeError(`payload type ${pt} is not 0–127`);
}

/** Mirror image of parseRed. Throws RedSerializeError when a field does not fit its header bits. */
export function serializeRed(red: RedPayload): Buffer {
  checkPayloadType(red.primary.payloadType);
  let size = red.redundant.length * 4 + 1 + red.primary.data.length;
  for (const block of red.redundant) {
    checkPayloadType(block.payloadType);
    if (block.data.length > RED_MAX_BLOCK_LENGTH) {
      throw new RedSerializeError(`RED block of ${block.data.length} bytes exceeds ${RED_MAX_BLOCK_LENGTH}`);
    }
    const off = block.timestampOffset;
    if (!Number.isInteger(off) || off < 0 || off > RED_MAX_TIMESTAMP_OFFSET) {
      throw new RedSerializeError(`timestamp offset ${off} is not 0–${RED_MAX_TIMESTAMP_OFFSET}`);
    }
    size += block.data.length;
  }
  const out = Buffer.alloc(size);
  let offset = 0;
  for (const block of red.redundant) {
    out[offset] = 0x80 | block.payloadType;
    const rest = (block.timestampOffset << 10) | block.data.length;
    out[offset + 1] = rest >> 16;
    out[offset + 2] = (rest >> 8) & 0xff;
    out[offset + 3] = rest & 0xff;
    offset += 4;
  }
  out[offset++] = red.primary.payloadType;
  for (const block of red.redundant) {
    out.set(block.data, offset);
    offset += block.data.length;
  }
  out.set(red.primary.data, offset);
  return out;
}
