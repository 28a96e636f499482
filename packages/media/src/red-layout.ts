// The one walk over RED block headers (RFC 2198 §3) in the code base: where each block of a RED payload
// starts and ends, read in place from the received buffer. parseRed, the payload-type rewrite, the
// keep-alive test and the relay's "carries no text" checks all read a RedLayout instead of walking again.

/** Why a RED payload does not parse; named values, so the hot path compares instead of catching. */
export const RED_NO_PRIMARY_HEADER = 1;
export const RED_TRUNCATED_HEADER = 2;
export const RED_BLOCK_OVERRUN = 3;
export type RedLayoutError =
  | typeof RED_NO_PRIMARY_HEADER
  | typeof RED_TRUNCATED_HEADER
  | typeof RED_BLOCK_OVERRUN;

/**
 * Where the blocks of one RED payload lie in its buffer. Reused from packet to packet: walkRed overwrites
 * it and grows its arrays only when a payload has more redundant blocks than any before.
 */
export class RedLayout {
  /** Redundant blocks, oldest first as on the wire. */
  count = 0;
  /** Per redundant block: payload type, timestamp offset, start and end in the buffer. */
  readonly payloadTypes: number[] = [];
  readonly timestampOffsets: number[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  /** Offset in the buffer of the first block header and of the primary's one-byte header. */
  headersStart = 0;
  primaryHeader = 0;
  primaryPayloadType = 0;
  /** The primary block runs from primaryStart to the end the walk was given. */
  primaryStart = 0;
  primaryEnd = 0;
  /** Bytes of all redundant blocks together. */
  redundantBytes = 0;
  /** Where the last failed walk stopped, and the length of the block that overran (for messages). */
  failedAt = 0;
  failedLength = 0;

  get primaryLength(): number {
    return this.primaryEnd - this.primaryStart;
  }
}

/**
 * Reads the RED payload `buf[start, end)` into `layout`; 0 when it parses, else a RedLayoutError.
 * Allocates nothing once the layout's arrays have grown to the payload's block count.
 */
export function walkRed(buf: Uint8Array, start: number, end: number, layout: RedLayout): 0 | RedLayoutError {
  let offset = start;
  let count = 0;
  let bytes = 0;
  layout.headersStart = start;
  for (;;) {
    if (offset >= end) {
      layout.count = count;
      layout.failedAt = offset;
      return RED_NO_PRIMARY_HEADER;
    }
    const first = buf[offset];
    if ((first & 0x80) === 0) break;
    if (offset + 4 > end) {
      layout.count = count;
      layout.failedAt = offset;
      return RED_TRUNCATED_HEADER;
    }
    const rest = (buf[offset + 1] << 16) | (buf[offset + 2] << 8) | buf[offset + 3];
    layout.payloadTypes[count] = first & 0x7f;
    layout.timestampOffsets[count] = rest >> 10;
    layout.ends[count] = rest & 0x3ff; // the length for now; made an end offset below
    bytes += rest & 0x3ff;
    count++;
    offset += 4;
  }
  layout.primaryHeader = offset;
  layout.primaryPayloadType = buf[offset] & 0x7f;
  let data = offset + 1;
  for (let i = 0; i < count; i++) {
    const length = layout.ends[i];
    if (data + length > end) {
      layout.count = count;
      layout.failedAt = data;
      layout.failedLength = length;
      return RED_BLOCK_OVERRUN;
    }
    layout.starts[i] = data;
    layout.ends[i] = data + length;
    data += length;
  }
  layout.count = count;
  layout.redundantBytes = bytes;
  layout.primaryStart = data;
  layout.primaryEnd = end;
  return 0;
}
