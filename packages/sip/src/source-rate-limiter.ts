import { type Now, TokenBucket } from './token-bucket.js';

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * One token bucket per source (an IP address), so one noisy peer is slowed without degrading everyone.
 * Memory is bounded: full buckets are forgotten (they equal a fresh one) when the table reaches `maxSources`,
 * and if all are busy the least recently used is dropped.
 */
export class SourceRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: Now,
    readonly maxSources = 100_000,
  ) {}

  check(source: string): RateDecision {
    let bucket = this.buckets.get(source);
    if (bucket) {
      this.buckets.delete(source); // re-insert: Map order doubles as LRU order
    } else {
      if (this.buckets.size >= this.maxSources) this.evict();
      bucket = new TokenBucket(this.ratePerSecond, this.burst, this.now);
    }
    this.buckets.set(source, bucket);
    if (bucket.take()) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(bucket.waitMs() / 1000)) };
  }

  get size(): number {
    return this.buckets.size;
  }

  private evict(): void {
    for (const [source, bucket] of this.buckets) if (bucket.full) this.buckets.delete(source);
    if (this.buckets.size < this.maxSources) return;
    const oldest = this.buckets.keys().next();
    if (!oldest.done) this.buckets.delete(oldest.value);
  }
}
