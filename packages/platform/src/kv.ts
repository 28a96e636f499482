/** Create on a live key, or update/delete with a revision that is no longer the key's latest. */
export class KvConflictError extends Error {
  override readonly name = 'KvConflictError';
  constructor(
    message: string,
    readonly key?: string,
  ) {
    super(message);
  }
}

/** A key or bucket name that NATS KV would refuse. */
export class InvalidKvKeyError extends Error {
  override readonly name = 'InvalidKvKeyError';
}

export interface KvEntry {
  key: string;
  value: Uint8Array;
  /** Bucket-wide sequence of the write (JetStream stream sequence); increases with every write. */
  revision: number;
}

export interface KvWatchEvent {
  key: string;
  value: Uint8Array | null;
  revision: number;
  op: 'put' | 'delete';
}

/**
 * A JetStream KV bucket, with compare-and-set writes. Implemented over NATS (natsKvStore) and in
 * process (InProcessKvStore); both pass kv.contract.ts.
 */
export interface KvBucket {
  /** Deleted, purged or expired keys read as null. */
  get(key: string): Promise<KvEntry | null>;
  /** Only if absent (or deleted); returns the revision. KvConflictError otherwise. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Compare-and-set against the key's latest revision; KvConflictError on mismatch. */
  update(key: string, value: Uint8Array, expectedRevision: number): Promise<number>;
  put(key: string, value: Uint8Array): Promise<number>;
  delete(key: string, expectedRevision?: number): Promise<void>;
  /**
   * Messages the bucket holds: live values, kept history and delete markers not yet purged. A delete
   * leaves a marker only for a short grace (so watchers see it); then it is purged.
   */
  stored(): Promise<number>;
  /** Live keys, optionally only those starting with `prefix`. Walks the bucket: never on a request path. */
  keys(prefix?: string): Promise<string[]>;
  /** Changes made after the returned promise resolves, optionally only keys starting with `prefix`. */
  watch(handler: (entry: KvWatchEvent) => void, opts?: { prefix?: string }): Promise<{ stop(): void }>;
}

export interface KvBucketOptions {
  /** Values kept per key (NATS allows 1–64); default 1. */
  history?: number;
  /** Entries expire this long after their write; default never. */
  ttlMs?: number;
}

export interface KvStore {
  bucket(name: string, opts?: KvBucketOptions): Promise<KvBucket>;
}
