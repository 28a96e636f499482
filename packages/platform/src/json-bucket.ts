import type { z } from 'zod';
import { type KvBucket, KvConflictError } from './kv.js';

/** A stored value that is not JSON or does not match the bucket's schema. */
export class KvValueError extends Error {
  override readonly name = 'KvValueError';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

const MUTATE_TRIES = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A KvBucket of JSON values checked against a zod schema when read. */
export class JsonBucket<T> {
  constructor(
    readonly bucket: KvBucket,
    private readonly schema: z.ZodType<T>,
  ) {}

  async get(key: string): Promise<{ value: T; revision: number } | null> {
    const entry = await this.bucket.get(key);
    if (!entry) return null;
    return { value: this.decode(key, entry.value), revision: entry.revision };
  }

  create(key: string, value: T): Promise<number> {
    return this.bucket.create(key, this.encode(value));
  }

  update(key: string, value: T, rev: number): Promise<number> {
    return this.bucket.update(key, this.encode(value), rev);
  }

  put(key: string, value: T): Promise<number> {
    return this.bucket.put(key, this.encode(value));
  }

  delete(key: string, rev?: number): Promise<void> {
    return this.bucket.delete(key, rev);
  }

  keys(prefix?: string): Promise<string[]> {
    return this.bucket.keys(prefix);
  }

  /**
   * Read-modify-write with compare-and-set, retried on conflict. `fn` may run several times and
   * must not have side effects; it returns the new value, null to delete, or undefined to keep.
   * Resolves to the value now stored (null if none).
   */
  async mutate(key: string, fn: (current: T | null) => T | null | undefined): Promise<T | null> {
    let lastConflict: KvConflictError | undefined;
    for (let attempt = 0; attempt < MUTATE_TRIES; attempt++) {
      const current = await this.get(key);
      const next = fn(current ? current.value : null);
      try {
        if (next === undefined) return current ? current.value : null;
        if (next === null) {
          if (current) await this.bucket.delete(key, current.revision);
          return null;
        }
        if (current) await this.update(key, next, current.revision);
        else await this.create(key, next);
        return next;
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
        lastConflict = err;
      }
    }
    throw new KvConflictError(
      `gave up on ${key} after ${MUTATE_TRIES} conflicting writes: ${lastConflict?.message}`,
      key,
    );
  }

  private encode(value: T): Uint8Array {
    return encoder.encode(JSON.stringify(value));
  }

  private decode(key: string, bytes: Uint8Array): T {
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(bytes));
    } catch {
      throw new KvValueError(key, `value of ${key} is not JSON`);
    }
    const result = this.schema.safeParse(json);
    if (!result.success) {
      throw new KvValueError(
        key,
        `value of ${key} does not match its schema: ${result.error.issues[0]?.message}`,
      );
    }
    return result.data;
  }
}
