// Per-leg packet rate limit: a token bucket refilled continuously, so one flooding publisher loses its
// excess packets while the other legs of the topic are untouched. The clock is the caller's.
export class TokenBucket {
  private tokens: number;
  private last: number | undefined;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number = ratePerSecond,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1))
      throw new RangeError(`token bucket of rate ${ratePerSecond}/s and burst ${burst} is not usable`);
    this.tokens = burst;
  }

  /** Takes one token at `nowMs`; false when the bucket is empty. */
  take(nowMs: number): boolean {
    if (this.last !== undefined && nowMs > this.last)
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.last) * this.ratePerSecond) / 1000);
    if (this.last === undefined || nowMs > this.last) this.last = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
