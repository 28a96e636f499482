import {
  headers,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  KvWatchInclude,
  type NatsConnection,
  type KvEntry as NatsKvEntry,
} from 'nats';
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

/**
 * "No responders": no stream leader took the request, so it was not applied and may be sent again. In a
 * JetStream cluster this is what a bucket answers while its streams elect a new leader after a node died.
 */
function isNoResponders(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { code?: number }; message?: string } | null;
  return e?.code === '503' || e?.api_error?.code === 503 || /no responders/i.test(e?.message ?? '');
}

function isTimeout(err: unknown): boolean {
  const e = err as { code?: string } | null;
  return e?.code === 'TIMEOUT';
}

/** How long an operation is retried while a clustered bucket has no leader; default 10 s. */
export const DEFAULT_LEADERLESS_RETRY_MS = 10_000;

/**
 * How long opening (or creating) a bucket is retried while JetStream cannot answer; default 60 s. A
 * cluster that has just started has no meta leader for a few seconds, and in Kubernetes the services
 * often start with NATS: they wait for it instead of exiting.
 */
export const DEFAULT_OPEN_RETRY_MS = 60_000;

function isLive(entry: NatsKvEntry | null): entry is NatsKvEntry {
  return entry !== null && entry.operation === 'PUT';
}

/** The NATS subject filter that narrows a string prefix, when the prefix ends on a token boundary. */
function filterFor(prefix: string): string {
  if (prefix.endsWith('.') && isValidKvKey(prefix.slice(0, -1))) return `${prefix}>`;
  return '>';
}

/** A delete marker waiting for its purge: the stream messages of `subject` up to `seq` go. */
interface PendingPurge {
  subject: string;
  seq: number;
  due: number;
}

/** How long a delete marker stays so live watchers see the delete before it is purged. */
export const DEFAULT_MARKER_GRACE_MS = 2_000;

class NatsKvBucket implements KvBucket {
  private readonly pending: PendingPurge[] = [];
  private purging: NodeJS.Timeout | undefined;

  constructor(
    private readonly name: string,
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly jsm: () => Promise<JetStreamManager>,
    private readonly markerGraceMs: number,
    private readonly logger: Logger,
    private readonly leaderlessRetryMs: number = DEFAULT_LEADERLESS_RETRY_MS,
  ) {}

  /**
   * Runs `op` again while the bucket has no leader (no responders), for up to leaderlessRetryMs; reads
   * are also tried again after a timeout. A write that timed out is not: it may have been applied.
   */
  private async retrying<T>(op: () => Promise<T>, read = false): Promise<T> {
    const deadline = Date.now() + this.leaderlessRetryMs;
    for (let wait = 50; ; wait = Math.min(wait * 2, 500)) {
      try {
        return await op();
      } catch (err) {
        if (!(isNoResponders(err) || (read && isTimeout(err))) || Date.now() + wait > deadline) throw err;
        this.logger.debug(
          { bucket: this.name, err: (err as Error).message },
          'KV has no leader; trying again',
        );
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private get stream(): string {
    return `KV_${this.name}`;
  }

  private subject(key: string): string {
    return `$KV.${this.name}.${key}`;
  }

  async get(key: string): Promise<KvEntry | null> {
    assertValidKvKey(key);
    const entry = await this.retrying(() => this.kv.get(key), true);
    return isLive(entry) ? { key, value: entry.value, revision: entry.revision } : null;
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    assertValidKvKey(key);
    try {
      return await this.retrying(() => this.kv.create(key, value));
    } catch (err) {
      if (isWrongLastSequence(err)) throw new KvConflictError(`${this.name}/${key} already exists`, key);
      throw err;
    }
  }

  async update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    assertValidKvKey(key);
    try {
      // put with previousSeq rather than kv.update, which refuses 0 (= "never written") synchronously.
      return await this.retrying(() => this.kv.put(key, value, { previousSeq: expectedRevision }));
    } catch (err) {
      if (isWrongLastSequence(err)) {
        throw new KvConflictError(`${this.name}/${key} is not at revision ${expectedRevision}`, key);
      }
      throw err;
    }
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    assertValidKvKey(key);
    return this.retrying(() => this.kv.put(key, value));
  }

  async delete(key: string, expectedRevision?: number): Promise<void> {
    assertValidKvKey(key);
    // The marker is published here (as kv.delete would) to learn its sequence: the purge that follows
    // the grace removes this key's messages up to it and never a value written after it.
    const h = headers();
    h.set('KV-Operation', 'DEL');
    if (expectedRevision) h.set('Nats-Expected-Last-Subject-Sequence', String(expectedRevision));
    let seq: number;
    try {
      seq = (await this.retrying(() => this.js.publish(this.subject(key), new Uint8Array(0), { headers: h })))
        .seq;
    } catch (err) {
      if (isWrongLastSequence(err)) {
        throw new KvConflictError(`${this.name}/${key} is not at revision ${expectedRevision}`, key);
      }
      throw err;
    }
    this.schedulePurge(this.subject(key), seq);
  }

  async stored(): Promise<number> {
    return (await this.kv.status()).values;
  }

  private schedulePurge(subject: string, seq: number): void {
    this.pending.push({ subject, seq, due: Date.now() + this.markerGraceMs });
    if (!this.purging) this.purging = setTimeout(() => void this.purgeDue(), this.markerGraceMs);
    this.purging.unref?.();
  }

  /** Purges the markers whose grace is over; a failed purge (NATS away) is retried on the next round. */
  private async purgeDue(): Promise<void> {
    this.purging = undefined;
    const now = Date.now();
    const due = this.pending.filter((p) => p.due <= now);
    const later = this.pending.filter((p) => p.due > now);
    this.pending.length = 0;
    this.pending.push(...later);
    try {
      const jsm = await this.jsm();
      for (const p of due) {
        try {
          await jsm.streams.purge(this.stream, { filter: p.subject, seq: p.seq + 1 });
        } catch (err) {
          this.pending.push({ ...p, due: now + this.markerGraceMs });
          this.logger.debug({ err, bucket: this.name }, 'KV marker purge failed; will retry');
        }
      }
    } catch (err) {
      this.pending.push(...due.map((p) => ({ ...p, due: now + this.markerGraceMs })));
      this.logger.debug({ err, bucket: this.name }, 'KV marker purge failed; will retry');
    }
    if (this.pending.length > 0 && !this.purging) {
      const next = Math.max(0, Math.min(...this.pending.map((p) => p.due)) - Date.now());
      this.purging = setTimeout(() => void this.purgeDue(), next);
      this.purging.unref?.();
    }
  }

  /**
   * Once per open, in the background: markers left by processes that died before their purge (or
   * written by other clients) are purged, each up to its own sequence.
   */
  async sweepMarkers(): Promise<void> {
    const markers: { subject: string; seq: number }[] = [];
    const done = new Promise<void>((resolve) => {
      void this.kv
        .watch({
          key: '>',
          include: KvWatchInclude.LastValue,
          headers_only: true,
          initializedFn: () => resolve(),
        })
        .then(async (iter) => {
          void done.then(() => iter.stop());
          for await (const e of iter) {
            if (e.operation !== 'PUT') markers.push({ subject: this.subject(e.key), seq: e.revision });
          }
        })
        .catch((err: unknown) => {
          this.logger.debug({ err, bucket: this.name }, 'KV marker sweep failed');
          resolve();
        });
    });
    await done;
    for (const m of markers) this.schedulePurge(m.subject, m.seq);
  }

  async keys(prefix = ''): Promise<string[]> {
    const out: string[] = [];
    // Listing is a read (an ephemeral consumer): safe to try again after a timeout.
    for await (const key of await this.retrying(() => this.kv.keys(filterFor(prefix)), true)) {
      if (key.startsWith(prefix)) out.push(key);
    }
    return out.sort();
  }

  async watch(
    handler: (entry: KvWatchEvent) => void,
    opts: { prefix?: string } = {},
  ): Promise<{ stop(): void }> {
    const prefix = opts.prefix ?? '';
    // A watch is an ordered consumer; creating one again after a timeout is harmless.
    const iter = await this.retrying(
      () => this.kv.watch({ key: filterFor(prefix), include: KvWatchInclude.UpdatesOnly }),
      true,
    );
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

/**
 * Opens a bucket, trying again while JetStream cannot answer (no responders, a timed-out API request,
 * "temporarily unavailable"): what a cluster says before its meta leader is elected. Any other error,
 * or the deadline, ends it. Creating a stream is idempotent, so an attempt that timed out after the
 * server applied it is harmless: the next one finds the stream.
 */
async function openRetrying(
  name: string,
  open: () => Promise<KV>,
  retryMs: number,
  logger: Logger,
): Promise<KV> {
  const deadline = Date.now() + retryMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return await open();
    } catch (err) {
      if (!(isNoResponders(err) || isTimeout(err)) || Date.now() + wait > deadline) throw err;
      logger.warn(
        { bucket: name, err: (err as Error).message },
        'JetStream not ready; opening the bucket again',
      );
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** KvStore over NATS JetStream; buckets are created on first use with the given history and TTL. */
export function natsKvStore(
  nc: NatsConnection,
  opts: {
    logger?: Logger;
    /** Copies of each bucket in a JetStream cluster (NATS_KV_REPLICAS); default 1. */
    replicas?: number;
    /** How long delete markers stay before they are purged; default DEFAULT_MARKER_GRACE_MS. */
    markerGraceMs?: number;
    /** How long operations are retried while a clustered bucket elects a leader (NATS_KV_LEADERLESS_RETRY_MS). */
    leaderlessRetryMs?: number;
    /** How long opening a bucket is retried while JetStream has no leader; default DEFAULT_OPEN_RETRY_MS. */
    openRetryMs?: number;
  } = {},
): KvStore {
  const logger = opts.logger ?? fallbackLogger();
  const js = nc.jetstream();
  const markerGraceMs = opts.markerGraceMs ?? DEFAULT_MARKER_GRACE_MS;
  let jsm: Promise<JetStreamManager> | undefined;
  const manager = (): Promise<JetStreamManager> => {
    if (!jsm) {
      jsm = nc.jetstreamManager();
      jsm.catch(() => {
        jsm = undefined;
      });
    }
    return jsm;
  };
  const opened = new Map<string, Promise<KvBucket>>();
  return {
    bucket(name: string, bucketOpts: KvBucketOptions = {}): Promise<KvBucket> {
      if (!isValidBucketName(name)) {
        return Promise.reject(new InvalidKvKeyError(`invalid bucket name ${JSON.stringify(name)}`));
      }
      let bucket = opened.get(name);
      if (!bucket) {
        const open = () =>
          js.views.kv(name, {
            history: bucketOpts.history ?? 1,
            replicas: opts.replicas ?? 1,
            ...(bucketOpts.ttlMs !== undefined ? { ttl: bucketOpts.ttlMs } : {}),
          });
        bucket = openRetrying(name, open, opts.openRetryMs ?? DEFAULT_OPEN_RETRY_MS, logger).then((kv) => {
          const bucket = new NatsKvBucket(
            name,
            kv,
            js,
            manager,
            markerGraceMs,
            logger,
            opts.leaderlessRetryMs,
          );
          void bucket.sweepMarkers();
          return bucket;
        });
        // A failed open (NATS down) should be retried by the next caller, not cached.
        bucket.catch(() => opened.delete(name));
        opened.set(name, bucket);
      }
      return bucket;
    },
  };
}
