// Retained values of a topic (PROFILE.md "PUBLISH"): the latest record per resolved SenML name, from RTP
// (kept RETAIN_TTL) or PUBLISH (kept while the publication lives), in one KV record per topic so a
// subscriber's first state is a single get. Writes for one topic are coalesced: while one
// compare-and-set is in flight, later records wait and go in the next one (BatchedMutations).
import type { JsonBucket } from '@sip-pubsub/platform';
import { type RetainedValues, retainedKey } from '@sip-pubsub/proto';
import type { ResolvedRecord } from '@sip-pubsub/senml';
import { BatchedMutations } from './batched-mutations.js';

export type RetainedChange =
  | { kind: 'add'; records: ResolvedRecord[]; receivedAt: number; expiresAt?: number; publication?: string }
  | { kind: 'drop'; publication: string };

export interface RetainedValuesOptions {
  /** How long an RTP record is retained; 0 retains none (PUBLISHed records are kept regardless). */
  ttlMs: number;
  /** Most names retained per topic (RETAIN_MAX_NAMES); beyond it the oldest arrivals go. */
  maxNames?: number;
  now?: () => number;
}

export const DEFAULT_RETAIN_MAX_NAMES = 1000;

export class RetainedValuesStore {
  private readonly writes: BatchedMutations<RetainedValues, RetainedChange>;
  private readonly now: () => number;

  constructor(
    private readonly bucket: JsonBucket<RetainedValues>,
    private readonly opts: RetainedValuesOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.writes = new BatchedMutations(bucket, (current, changes) =>
      applyChanges(current, changes, this.now(), opts.maxNames ?? DEFAULT_RETAIN_MAX_NAMES),
    );
  }

  /** Records that arrived over RTP; nothing is kept when RETAIN_TTL is 0. */
  addRtp(conferenceId: string, records: ResolvedRecord[]): Promise<void> {
    if (this.opts.ttlMs <= 0 || records.length === 0) return Promise.resolve();
    const receivedAt = this.now();
    return this.queue(conferenceId, {
      kind: 'add',
      records,
      receivedAt,
      expiresAt: receivedAt + this.opts.ttlMs,
    });
  }

  /**
   * The records of a publication's state, kept until dropPublication(). They replace what the publication
   * retained before (a modification replaces the state, RFC 3903 §4.3), in one write.
   */
  addPublished(conferenceId: string, records: ResolvedRecord[], publication: string): Promise<void> {
    return this.queue(
      conferenceId,
      { kind: 'drop', publication },
      { kind: 'add', records, receivedAt: this.now(), publication },
    );
  }

  /** The publication was removed or expired: its records are no longer retained. */
  dropPublication(conferenceId: string, publication: string): Promise<void> {
    return this.queue(conferenceId, { kind: 'drop', publication });
  }

  /** The topic's retained records, oldest arrival first. */
  async current(conferenceId: string): Promise<ResolvedRecord[]> {
    const entry = await this.bucket.get(retainedKey(conferenceId));
    if (!entry) return [];
    const now = this.now();
    return Object.values(entry.value.values)
      .filter((v) => v.expiresAt === undefined || v.expiresAt > now)
      .sort((a, b) => a.receivedAt - b.receivedAt)
      .map((v) => v.record);
  }

  private queue(conferenceId: string, ...changes: RetainedChange[]): Promise<void> {
    return this.writes.submit(retainedKey(conferenceId), ...changes);
  }
}

/**
 * The record after `changes`: later arrivals replace earlier ones per name; lapsed RTP records go, and
 * beyond `maxNames` the oldest arrivals. A Map, since a SenML name may be any token, `__proto__` too.
 */
export function applyChanges(
  current: RetainedValues | null,
  changes: RetainedChange[],
  now: number,
  maxNames = DEFAULT_RETAIN_MAX_NAMES,
): RetainedValues | null | undefined {
  const values = new Map<string, RetainedValues['values'][string]>();
  for (const [name, v] of Object.entries(current?.values ?? {}))
    if (v.expiresAt === undefined || v.expiresAt > now) values.set(name, v);
  for (const change of changes) {
    if (change.kind === 'drop') {
      for (const [name, v] of values) if (v.publication === change.publication) values.delete(name);
      continue;
    }
    for (const record of change.records) {
      const kept: RetainedValues['values'][string] = {
        record: plainRecord(record),
        receivedAt: change.receivedAt,
      };
      if (change.expiresAt !== undefined) kept.expiresAt = change.expiresAt;
      if (change.publication !== undefined) kept.publication = change.publication;
      values.set(record.n, kept);
    }
  }
  if (values.size > maxNames) {
    const oldest = [...values].sort((a, b) => a[1].receivedAt - b[1].receivedAt);
    for (const [name] of oldest.slice(0, values.size - maxNames)) values.delete(name);
  }
  // Nothing left: delete the record, or write nothing when there was none.
  if (values.size === 0) return current ? null : undefined;
  return { values: Object.fromEntries(values) };
}

/** Only the fields a resolved record may carry, so the stored value always matches its schema. */
function plainRecord(r: ResolvedRecord): ResolvedRecord {
  const out: ResolvedRecord = { n: r.n, t: r.t };
  if (r.u !== undefined) out.u = r.u;
  if (r.v !== undefined) out.v = r.v;
  if (r.vs !== undefined) out.vs = r.vs;
  if (r.vb !== undefined) out.vb = r.vb;
  if (r.vd !== undefined) out.vd = r.vd;
  if (r.s !== undefined) out.s = r.s;
  if (r.ut !== undefined) out.ut = r.ut;
  return out;
}
