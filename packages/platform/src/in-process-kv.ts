import {
  InvalidKvKeyError,
  type KvBucket,
  type KvBucketOptions,
  KvConflictError,
  type KvEntry,
  type KvStore,
  type KvWatchEvent,
} from './kv.js';
import { assertValidKvKey, isValidBucketName } from './kv-key.js';
import { fallbackLogger, type Logger } from './logging.js';

interface Stored {
  /** null marks a delete (a JetStream KV 'DEL' marker). */
  value: Uint8Array | null;
  revision: number;
  writtenAt: number;
}

interface Watcher {
  prefix: string;
  handler: (entry: KvWatchEvent) => void;
  active: boolean;
}

/**
 * One bucket held in memory with the NATS KV rules: a bucket-wide revision sequence, deletes seen by
 * watchers and then purged (a deleted key reads as never written), create allowed over a delete, CAS against the key's latest revision (0 = never written),
 * TTL measured from each write. Every operation completes before its promise settles.
 */
class InProcessKvBucket implements KvBucket {
  private readonly entries = new Map<string, Stored>();
  private readonly watchers = new Set<Watcher>();
  private sequence = 0;

  constructor(
    private readonly name: string,
    private readonly ttlMs: number | undefined,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {}

  async get(key: string): Promise<KvEntry | null> {
    assertValidKvKey(key);
    const stored = this.latest(key);
    if (!stored || stored.value === null) return null;
    return { key, value: stored.value.slice(), revision: stored.revision };
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    assertValidKvKey(key);
    const stored = this.latest(key);
    if (stored && stored.value !== null) {
      throw new KvConflictError(`${this.name}/${key} already exists at revision ${stored.revision}`, key);
    }
    return this.write(key, value);
  }

  async update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    assertValidKvKey(key);
    this.check(key, expectedRevision);
    return this.write(key, value);
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    assertValidKvKey(key);
    return this.write(key, value);
  }

  async delete(key: string, expectedRevision?: number): Promise<void> {
    assertValidKvKey(key);
    // Like the NATS client, a zero/absent expected revision means an unconditional delete.
    if (expectedRevision) this.check(key, expectedRevision);
    this.write(key, null);
    // The marker has been handed to the watchers; like the NATS store after its grace, it is purged.
    this.entries.delete(key);
  }

  async stored(): Promise<number> {
    let n = 0;
    for (const key of [...this.entries.keys()]) if (this.latest(key)) n++;
    return n;
  }

  async keys(prefix = ''): Promise<string[]> {
    const out: string[] = [];
    for (const key of [...this.entries.keys()]) {
      if (!key.startsWith(prefix)) continue;
      const stored = this.latest(key);
      if (stored && stored.value !== null) out.push(key);
    }
    return out.sort();
  }

  async watch(
    handler: (entry: KvWatchEvent) => void,
    opts: { prefix?: string } = {},
  ): Promise<{ stop(): void }> {
    const watcher: Watcher = { prefix: opts.prefix ?? '', handler, active: true };
    this.watchers.add(watcher);
    return {
      stop: () => {
        watcher.active = false;
        this.watchers.delete(watcher);
      },
    };
  }

  private latest(key: string): Stored | undefined {
    const stored = this.entries.get(key);
    if (stored && this.ttlMs !== undefined && this.now() - stored.writtenAt >= this.ttlMs) {
      // Expired: JetStream removes the message, so the key reads as never written.
      this.entries.delete(key);
      return undefined;
    }
    return stored;
  }

  private dropExpired(): void {
    if (this.ttlMs === undefined) return;
    const t = this.now();
    for (const [key, stored] of this.entries) {
      if (t - stored.writtenAt < this.ttlMs) break;
      this.entries.delete(key);
    }
  }

  /** Keys held in memory, live or not (for tests of expiry). */
  get heldKeys(): number {
    return this.entries.size;
  }

  private check(key: string, expectedRevision: number): void {
    const last = this.latest(key)?.revision ?? 0;
    if (last !== expectedRevision) {
      throw new KvConflictError(
        `${this.name}/${key} is at revision ${last}, expected ${expectedRevision}`,
        key,
      );
    }
  }

  private write(key: string, value: Uint8Array | null): number {
    const revision = ++this.sequence;
    const copy = value === null ? null : value.slice();
    // Re-inserting keeps the map in write order, so expired entries are at its front and leave here even
    // when no one reads them again (JetStream drops them by max_age; a TTL bucket must not grow forever).
    this.entries.delete(key);
    this.entries.set(key, { value: copy, revision, writtenAt: this.now() });
    this.dropExpired();
    for (const watcher of this.watchers) {
      if (!key.startsWith(watcher.prefix)) continue;
      const event: KvWatchEvent =
        copy === null
          ? { key, value: null, revision, op: 'delete' }
          : { key, value: copy.slice(), revision, op: 'put' };
      queueMicrotask(() => {
        if (!watcher.active) return;
        try {
          watcher.handler(event);
        } catch (err) {
          this.logger.error({ err, bucket: this.name, key }, 'KV watch handler threw');
        }
      });
    }
    return revision;
  }
}

/** The KV of the embedded broker. Opening the same bucket name twice gives the same bucket. */
export class InProcessKvStore implements KvStore {
  private readonly buckets = new Map<string, InProcessKvBucket>();
  private readonly now: () => number;
  private readonly logger: Logger;

  constructor(opts: { clock?: { now(): number }; logger?: Logger } = {}) {
    const clock = opts.clock;
    this.now = clock ? () => clock.now() : () => Date.now();
    this.logger = opts.logger ?? fallbackLogger();
  }

  async bucket(name: string, opts: KvBucketOptions = {}): Promise<KvBucket> {
    if (!isValidBucketName(name)) throw new InvalidKvKeyError(`invalid bucket name ${JSON.stringify(name)}`);
    let bucket = this.buckets.get(name);
    if (!bucket) {
      bucket = new InProcessKvBucket(name, opts.ttlMs, this.now, this.logger);
      this.buckets.set(name, bucket);
    }
    return bucket;
  }
}
