// Read-modify-write of one KV record that many requests change at once (a topic's retained values, its
// PUBLISH sources): while one compare-and-set is in flight for a key, later changes wait and go in the next
// one, so a busy topic costs one write per round trip instead of a storm of conflicting retries.
import type { JsonBucket } from '@sip-pubsub/platform';

interface Batch<C> {
  changes: C[];
  waiters: { resolve(): void; reject(err: Error): void }[];
}

export class BatchedMutations<T, C> {
  private readonly pending = new Map<string, Batch<C>>();
  private readonly writing = new Set<string>();

  constructor(
    private readonly bucket: JsonBucket<T>,
    /** The value after `changes` (null deletes, undefined writes nothing); may run more than once. */
    private readonly apply: (current: T | null, changes: C[]) => T | null | undefined,
  ) {}

  /** Resolves once the changes are stored (with any that were batched with them). */
  submit(key: string, ...changes: C[]): Promise<void> {
    return new Promise((resolve, reject) => {
      let batch = this.pending.get(key);
      if (!batch) {
        batch = { changes: [], waiters: [] };
        this.pending.set(key, batch);
      }
      batch.changes.push(...changes);
      batch.waiters.push({ resolve, reject });
      void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    if (this.writing.has(key)) return;
    this.writing.add(key);
    try {
      for (;;) {
        const batch = this.pending.get(key);
        if (!batch) return;
        this.pending.delete(key);
        try {
          await this.bucket.mutate(key, (current) => this.apply(current, batch.changes));
          for (const w of batch.waiters) w.resolve();
        } catch (err) {
          // The callers hear of it; the next batch still gets its chance.
          for (const w of batch.waiters) w.reject(err as Error);
        }
      }
    } finally {
      this.writing.delete(key);
    }
  }
}
