import type { KvBucket, KvStore } from '../kv.js';

/**
 * A KV store whose buckets count the operations made on them (each a round trip to NATS in a
 * deployment), so a test can hold a request's KV cost constant: counting is deterministic, timing is not.
 */
export class CountingKvStore implements KvStore {
  private readonly counts = new Map<string, number>();

  constructor(private readonly inner: KvStore) {}

  async bucket(name: string, opts?: Parameters<KvStore['bucket']>[1]): Promise<KvBucket> {
    return this.wrap(name, await this.inner.bucket(name, opts));
  }

  private wrap(name: string, bucket: KvBucket): KvBucket {
    const tick = (op: string) =>
      this.counts.set(`${name}.${op}`, (this.counts.get(`${name}.${op}`) ?? 0) + 1);
    return {
      get: (key) => (tick('get'), bucket.get(key)),
      create: (key, value) => (tick('create'), bucket.create(key, value)),
      update: (key, value, rev) => (tick('update'), bucket.update(key, value, rev)),
      put: (key, value) => (tick('put'), bucket.put(key, value)),
      delete: (key, rev) => (tick('delete'), bucket.delete(key, rev)),
      keys: (prefix) => (tick('keys'), bucket.keys(prefix)),
      stored: () => bucket.stored(),
      watch: (handler, opts) => bucket.watch(handler, opts),
    };
  }

  /** Operations so far: in all, and by `<bucket>.<operation>`. */
  snapshot(): { total: number; by: Record<string, number> } {
    const by = Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
    return { total: Object.values(by).reduce((a, b) => a + b, 0), by };
  }

  /** What `fn` cost, by `<bucket>.<operation>` (only the operations it made). */
  async during(fn: () => Promise<unknown>): Promise<{ total: number; by: Record<string, number> }> {
    const before = this.snapshot().by;
    await fn();
    const after = this.snapshot().by;
    const by: Record<string, number> = {};
    for (const [key, n] of Object.entries(after))
      if (n !== (before[key] ?? 0)) by[key] = n - (before[key] ?? 0);
    return { total: Object.values(by).reduce((a, b) => a + b, 0), by };
  }
}
