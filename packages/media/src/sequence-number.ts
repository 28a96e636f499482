// 16-bit RTP sequence number arithmetic across wrap-around (RFC 3550 §A.1).

/** Signed distance from `from` to `to`, in −32768…32767, treating both as 16-bit and wrapping. */
export function sequenceDelta(from: number, to: number): number {
  return ((((to - from) & 0xffff) + 0x8000) & 0xffff) - 0x8000;
}
