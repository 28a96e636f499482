/** Time source of the rate limiters: milliseconds, injectable so tests step time by hand. */
export type Now = () => number;

/**
 * Classic token bucket: `ratePerSecond` tokens flow in, at most `burst` are held, a request spends one.
 * Pure arithmetic on the injected clock; refills lazily on each call.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: Now,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1))
      throw new RangeError('TokenBucket needs rate > 0 and burst >= 1');
    this.tokens = burst;
    this.last = now();
  }

  /** Spends `cost` tokens if available; false leaves the bucket unchanged. */
  take(cost = 1): boolean {
    this.refill();
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Milliseconds until `cost` tokens are available (0 when they are now). */
  waitMs(cost = 1): number {
    this.refill();
    return this.tokens >= cost ? 0 : Math.ceil(((cost - this.tokens) * 1000) / this.ratePerSecond);
  }

  /** True when the bucket is full, i.e. forgetting it changes nothing. */
  get full(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }

  private refill(): void {
    const t = this.now();
    const elapsed = Math.max(0, t - this.last);
    this.last = t;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
  }
}
