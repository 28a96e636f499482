// UTF-8 helpers for T140blocks, which must hold whole characters (RFC 4103 §3.3).

const encoder = new TextEncoder();

export function encodeUtf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Splits UTF-8 bytes into views of at most `maxBytes`, never inside a character. */
export function splitUtf8(bytes: Uint8Array, maxBytes: number): Uint8Array[] {
  if (maxBytes < 4) throw new RangeError(`maxBytes ${maxBytes} cannot hold a 4-byte UTF-8 character`);
  const chunks: Uint8Array[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + maxBytes, bytes.length);
    // Back off over continuation bytes (10xxxxxx) so the next chunk starts on a character.
    while (end < bytes.length && (bytes[end] & 0xc0) === 0x80) end--;
    chunks.push(bytes.subarray(start, end));
    start = end;
  }
  return chunks;
}
