import { describe, expect, it } from 'vitest';
import { SourceRateLimiter } from './source-rate-limiter.js';
import { TokenBucket } from './token-bucket.js';

function manualTime(start = 1_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('TokenBucket', () => {
  it('allows a burst, then one request per 1/rate seconds', () => {
    const time = manualTime();
    const bucket = new TokenBucket(10, 3, time.now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    expect(bucket.waitMs()).toBe(100);
    time.advance(99);
    expect(bucket.take()).toBe(false);
    time.advance(1);
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it('never holds more than the burst, however long it idles', () => {
    const time = manualTime();
    const bucket = new TokenBucket(100, 2, time.now);
    time.advance(3_600_000);
    expect(bucket.full).toBe(true);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
  });

  it('a clock that steps back does not mint tokens', () => {
    const time = manualTime(10_000);
    const bucket = new TokenBucket(1, 1, time.now);
    expect(bucket.take()).toBe(true);
    time.advance(-5_000);
    expect(bucket.take()).toBe(false);
  });

  it('rejects a zero rate or an empty burst', () => {
    expect(() => new TokenBucket(0, 1, Date.now)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0, Date.now)).toThrow(RangeError);
  });
});

describe('SourceRateLimiter', () => {
  it('limits each source on its own and says when to retry', () => {
    const time = manualTime();
    const limiter = new SourceRateLimiter(0.5, 2, time.now);
    expect(limiter.check('192.0.2.1')).toEqual({ allowed: true });
    expect(limiter.check('192.0.2.1')).toEqual({ allowed: true });
    expect(limiter.check('192.0.2.1')).toEqual({ allowed: false, retryAfterSeconds: 2 });
    expect(limiter.check('192.0.2.2')).toEqual({ allowed: true });
    time.advance(2_000);
    expect(limiter.check('192.0.2.1')).toEqual({ allowed: true });
  });

  it('Retry-After is at least one second', () => {
    const time = manualTime();
    const limiter = new SourceRateLimiter(1000, 1, time.now);
    limiter.check('a');
    expect(limiter.check('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it('keeps at most maxSources buckets, forgetting full ones first, then the least recently used', () => {
    const time = manualTime();
    const limiter = new SourceRateLimiter(1, 1, time.now, 2);
    limiter.check('a'); // empty now
    limiter.check('b'); // empty now
    limiter.check('a'); // a is the most recent
    limiter.check('c'); // evicts b (oldest; none full)
    expect(limiter.size).toBe(2);
    expect(limiter.check('a').allowed).toBe(false); // a still remembered and empty
    expect(limiter.check('b').allowed).toBe(true); // b was forgotten: a fresh bucket
  });
});
