import { type KV, KvWatchInclude, type NatsConnection, type KvEntry as NatsKvEntry } from 'nats';
import {
  InvalidKvKeyError,
  type KvBucket,
  type KvBucketOptions,
  KvConflictError,
  type KvEntry,
  type KvStore,
  type KvWatchEvent,
} from './kv.js';
import { assertValidKvKey, isValidBucketName, isValidKvKey } from './kv-key.js';
import { fallbackLogger, type Logger } from './logging.js';

// JetStream API error: "wrong last sequence" (Nats-Expected-Last-Subject-Sequence failed).
const JS_WRONG_LAST_SEQUENCE = 10071;

function isWrongLastSequence(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string } | null;
  return e?.api_error?.err_code === JS_WRONG_LAST_SEQUENCE || /wrong last sequence/i.test(e?.message ?? '');
}

function isLive(entry: NatsKvEntry | null): entry is NatsKvEntry {
  return entry !== null && entry.operation === 'PUT';
}

/** The NATS subject filter that narrows a string prefix, when the prefix ends on a token boundary. */
function filterFor(prefix: string): string {
  if (prefix.endsWith('.') && isValidKvKey(prefix.slice(0, -1))) return `${prefix}>`;
  return '>';
}

class NatsKvBucket implements KvBucket {
  constructor(
    private readonly name: string,
    private readonly kv: KV,
    private readonly logger: Logger,
  ) {}

  async get(key: string): Promise<KvEntry | null> {
    assertValidKvKey(key);
    const entry = await this.kv.get(key);
    return isLive(entry) ? { key, value: entry.value, revision: entry.revision } : null;
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    assertValidKvKey(key);
    try {
      return await this.kv.create(key, value);
    } catch (err) {
      if (isWrongLastSequence(err)) throw new KvConflictError(`${this.name}/${key} already exists`, key);
      throw err;
    }
  }

  async update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    assertValidKvKey(key);
    try {
      // put with previousSeq rather than kv.update, which refuses 0 (= "never written") synchronously.
      return await this.kv.put(key, value, { previousSeq: expectedRevision });
    } catch (err) {
      if (isWrongLastSequence(err)) {
        throw new KvConflictError(`${this.name}/${key} is not at revision ${expectedRevision}`, key);
      }
      throw err;
    }
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    assertValidKvKey(key);
    return this.kv.put(key, value);
  }

  async delete(key: string, expectedRevision?: number): Promise<void> {
    assertValidKvKey(key);
    try {
      await this.kv.delete(key, expectedRevision ? { previousSeq: expectedRevision } : undefined);
    } catch (err) {
      if (isWrongLastSequence(err)) {
        throw new KvConflictError(`${this.name}/${key} is not at revision ${expectedRevision}`, key);
      }
      throw err;
    }
  }

  async keys(prefix = ''): Promise<string[]> {
    const out: string[] = [];
    for await (const key of await this.kv.keys(filterFor(prefix))) {
      if (key.startsWith(prefix)) out.push(key);
    }
    return out.sort();
  }

  async watch(
    handler: (entry: KvWatchEvent) => void,
    opts: { prefix?: string } = {},
  ): Promise<{ stop(): void }> {
    const prefix = opts.prefix ?? '';
    const iter = await this.kv.watch({ key: filterFor(prefix), include: KvWatchInclude.UpdatesOnly });
    void (async () => {
      for await (const e of iter) {
        if (!e.key.startsWith(prefix)) continue;
        const event: KvWatchEvent =
          e.operation === 'PUT'
            ? { key: e.key, value: e.value, revision: e.revision, op: 'put' }
            : { key: e.key, value: null, revision: e.revision, op: 'delete' };
        try {
          handler(event);
        } catch (err) {
          this.logger.error({ err, bucket: this.name, key: e.key }, 'KV watch handler threw');
        }
      }
    })().catch((err: unknown) =>
      this.logger.error({ err, bucket: this.name }, 'KV watch ended with an error'),
    );
    return { stop: () => iter.stop() };
  }
}

/** KvStore over NATS JetStream; buckets are created on first use with the given history and TTL. */
export function natsKvStore(nc: NatsConnection, opts: { logger?: Logger } = {}): KvStore {
  const logger = opts.logger ?? fallbackLogger();
  const js = nc.jetstream();
  const opened = new Map<string, Promise<KvBucket>>();
  return {
    bucket(name: string, bucketOpts: KvBucketOptions = {}): Promise<KvBucket> {
      if (!isValidBucketName(name)) {
        return Promise.reject(new InvalidKvKeyError(`invalid bucket name ${JSON.stringify(name)}`));
      }
      let bucket = opened.get(name);
      if (!bucket) {
        bucket = js.views
          .kv(name, {
            history: bucketOpts.history ?? 1,
            ...(bucketOpts.ttlMs !== undefined ? { ttl: bucketOpts.ttlMs } : {}),
          })
          .then((kv) => new NatsKvBucket(name, kv, logger));
        // A failed open (NATS down) should be retried by the next caller, not cached.
        bucket.catch(() => opened.delete(name));
        opened.set(name, bucket);
      }
      return bucket;
    },
  };
}
