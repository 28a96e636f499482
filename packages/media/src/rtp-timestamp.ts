// 32-bit RTP timestamp arithmetic (RFC 3550 §5.1: the timestamp wraps around like the sequence number).

/** `n` reduced to 0…2^32−1, for negative `n` too. */
export function wrapTimestamp(n: number): number {
  return ((n % 0x1_0000_0000) + 0x1_0000_0000) % 0x1_0000_0000;
}
