// Redundant audio data payload (RFC 2198 §3), used by RFC 4103 to carry earlier T140blocks.

import {
  RED_BLOCK_OVERRUN,
  RED_NO_PRIMARY_HEADER,
  RED_TRUNCATED_HEADER,
  RedLayout,
  walkRed,
} from './red-layout.js';

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
  const layout = new RedLayout();
  const error = walkRed(payload, 0, payload.length, layout);
  if (error === RED_NO_PRIMARY_HEADER)
    throw new RedParseError('RED header list ends before the primary header');
  if (error === RED_TRUNCATED_HEADER) throw new RedParseError('truncated RED block header');
  if (error === RED_BLOCK_OVERRUN)
    throw new RedParseError(
      `RED block of ${layout.failedLength} bytes exceeds the ${payload.length - layout.failedAt} bytes left`,
    );
  const redundant: RedBlock[] = [];
  for (let i = 0; i < layout.count; i++)
    redundant.push({
      payloadType: layout.payloadTypes[i],
      timestampOffset: layout.timestampOffsets[i],
      data: payload.subarray(layout.starts[i], layout.ends[i]),
    });
  return {
    redundant,
    primary: { payloadType: layout.primaryPayloadType, data: payload.subarray(layout.primaryStart) },
  };
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
