// The index records of proto's `indexes` bucket, written by the focus: a conference's legs and the
// shards of the conference directory. They replace key listings on request paths (a listing walks
// every key of a bucket, deleted ones included); readers do one get per index record.
import { type JsonBucket, type KvBucket, KvConflictError, type Logger } from '@sip-pubsub/platform';
import {
  directoryShardKey,
  directoryShardKeysOf,
  type IndexRecord,
  type ParticipantRole,
  type RosterShown,
  rosterIndexKey,
  sameRosterShown,
} from '@sip-pubsub/proto';

type Member = IndexRecord['members'][string];

/** An entry older than this whose record is gone may be pruned (younger ones may still be in flight). */
export const STALE_INDEX_ENTRY_MS = 30_000;

/** Index records whose last write from here is remembered (a conference's joins then cost no read). */
export const REMEMBERED_INDEX_RECORDS = 1_000;

const WRITE_TRIES = 10;

export class IndexWriter {
  /** Writes to one index record from this process, one at a time: they would only conflict with each other. */
  private readonly chains = new Map<string, Promise<unknown>>();

  /**
   * The value and revision of records as this writer last wrote (or read) them, most recent last. A write
   * is first tried as a compare-and-set on that revision, without a read: the owner of a conference is
   * usually the only writer of its roster, so a join or leave costs one KV operation, not two. When
   * another writer came in between, the compare-and-set fails and the record is read afresh.
   */
  private readonly known = new Map<string, { value: IndexRecord; revision: number }>();

  constructor(
    private readonly bucket: JsonBucket<IndexRecord>,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {}

  private remember(key: string, value: IndexRecord | null, revision = 0): void {
    this.known.delete(key);
    if (value === null) return;
    this.known.set(key, { value, revision });
    if (this.known.size > REMEMBERED_INDEX_RECORDS) this.known.delete(this.known.keys().next().value!);
  }

  /**
   * Read-modify-write of one record with compare-and-set, as JsonBucket.mutate (`fn` may run several
   * times; it returns the new value, null to delete, undefined to keep), starting from the remembered
   * copy. Only a write is decided on that copy (its compare-and-set proves the copy current); keeping the
   * record as it is, or refusing, is decided on the stored record.
   */
  private async mutate(key: string, fn: (current: IndexRecord | null) => IndexRecord | null | undefined) {
    const copy = this.known.get(key);
    if (copy) {
      const next = fn(copy.value);
      try {
        if (next === null) {
          await this.bucket.delete(key, copy.revision);
          this.remember(key, null);
          return;
        }
        if (next !== undefined) {
          this.remember(key, next, await this.bucket.update(key, next, copy.revision));
          return;
        }
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
      }
      this.known.delete(key);
    }
    let lastConflict: KvConflictError | undefined;
    for (let attempt = 0; attempt < WRITE_TRIES; attempt++) {
      const current = await this.bucket.get(key);
      const next = fn(current ? current.value : null);
      try {
        if (next === undefined) {
          if (current) this.remember(key, current.value, current.revision);
          return;
        }
        if (next === null) {
          if (current) await this.bucket.delete(key, current.revision);
          this.remember(key, null);
          return;
        }
        const revision = current
          ? await this.bucket.update(key, next, current.revision)
          : await this.bucket.create(key, next);
        this.remember(key, next, revision);
        return;
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
        lastConflict = err;
      }
    }
    throw new KvConflictError(
      `gave up on ${key} after ${WRITE_TRIES} conflicting writes: ${lastConflict?.message}`,
      key,
    );
  }

  private serial<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.chains.set(key, settled);
    void settled.then(() => {
      if (this.chains.get(key) === settled) this.chains.delete(key);
    });
    return next;
  }

  /**
   * Adds (or updates) `member`; refused (false) when it is new and the record already holds `limit`
   * members, or when its role would put the record over a per-role cap (`both` counts as each), so the
   * limits hold across replicas (compare-and-set).
   */
  add(
    key: string,
    member: string,
    role?: ParticipantRole,
    limit = Number.POSITIVE_INFINITY,
    roleLimits: RoleLimits = {},
  ): Promise<boolean> {
    return this.serial(key, async () => {
      let added = false;
      await this.mutate(key, (current) => {
        const members = current?.members ?? {};
        const existing = members[member];
        if (
          (!existing && Object.keys(members).length >= limit) ||
          overRoleLimit(members, member, role, roleLimits)
        ) {
          added = false;
          return undefined;
        }
        added = true;
        // What the roster shows of the participant stays with its entry when only the role changes.
        const entry: Member = { ...existing, at: existing?.at ?? this.now() };
        if (role) entry.role = role;
        if (existing && existing.role === entry.role) return undefined;
        return { members: { ...members, [member]: entry } };
      });
      return added;
    });
  }

  /**
   * Records what the roster shows of a stored participant (and its role) in its entry, so readers need
   * no participant record; written once the record is, and again only when the view changes. A member
   * missing from the record is added back, as `add` would for a role change.
   */
  show(key: string, member: string, role: ParticipantRole, shown: RosterShown): Promise<void> {
    return this.serial(key, async () => {
      await this.mutate(key, (current) => {
        const members = current?.members ?? {};
        const existing = members[member];
        if (existing && existing.role === role && sameRosterShown(existing.shown, shown)) return undefined;
        const entry: Member = { at: existing?.at ?? this.now(), role, shown };
        return { members: { ...members, [member]: entry } };
      });
    });
  }

  /** Removes `members`; the record goes when it is empty. */
  remove(key: string, ...members: string[]): Promise<void> {
    return this.serial(key, async () => {
      await this.mutate(key, (current) => {
        if (!current || !members.some((m) => m in current.members)) return undefined;
        const next = { ...current.members };
        for (const m of members) delete next[m];
        return Object.keys(next).length === 0 ? null : { members: next };
      });
    });
  }

  /** Best effort: a failed index write is logged, the request goes on (readers skip missing records). */
  async removeQuietly(key: string, ...members: string[]): Promise<void> {
    await this.remove(key, ...members).catch((err: Error) =>
      this.logger.warn({ key, err: err.message }, 'index record not updated'),
    );
  }

  async members(key: string): Promise<IndexRecord['members']> {
    return (await this.bucket.get(key))?.value.members ?? {};
  }

  /**
   * Drops entries older than STALE_INDEX_ENTRY_MS for which `exists` says no (their record was
   * deleted by a path that did not update the index, or by a replica that died in between).
   * Returns how many went.
   */
  async prune(key: string, exists: (member: string) => Promise<boolean>): Promise<number> {
    const members = await this.members(key);
    const cutoff = this.now() - STALE_INDEX_ENTRY_MS;
    const old = Object.entries(members).filter(([, m]) => m.at <= cutoff);
    const gone: string[] = [];
    await Promise.all(
      old.map(async ([member]) => {
        if (!(await exists(member))) gone.push(member);
      }),
    );
    if (gone.length > 0) await this.remove(key, ...gone);
    return gone.length;
  }
}

/** Most publishers and subscribers a conference admits; absent = no cap of that role. */
export interface RoleLimits {
  publishers?: number;
  subscribers?: number;
}

const PUBLISHES = new Set<ParticipantRole>(['publisher', 'both']);
const SUBSCRIBES = new Set<ParticipantRole>(['subscriber', 'both']);

/** Whether `member` taking `role` would exceed a cap, counting the other members' roles. */
function overRoleLimit(
  members: IndexRecord['members'],
  member: string,
  role: ParticipantRole | undefined,
  limits: RoleLimits,
): boolean {
  if (!role || (limits.publishers === undefined && limits.subscribers === undefined)) return false;
  const others = Object.entries(members).filter(([m]) => m !== member);
  const count = (roles: Set<ParticipantRole>) =>
    others.filter(([, m]) => m.role !== undefined && roles.has(m.role)).length;
  if (limits.publishers !== undefined && PUBLISHES.has(role) && count(PUBLISHES) >= limits.publishers)
    return true;
  return limits.subscribers !== undefined && SUBSCRIBES.has(role) && count(SUBSCRIBES) >= limits.subscribers;
}

/**
 * Index records for state written before they existed (an upgrade from a version without them). Run
 * once when a focus starts, off the request path: it lists the conferences and participants buckets.
 * Only rosters without any index record are filled, so live joins and leaves are never overwritten.
 */
export async function backfillIndexes(
  stores: {
    conferences: JsonBucket<unknown>;
    participants: JsonBucket<{ conferenceId: string; legId: string; role: ParticipantRole }>;
    indexes: JsonBucket<IndexRecord>;
  },
  writer: IndexWriter,
): Promise<{ conferences: number; legs: number }> {
  let conferences = 0;
  const shards = new Map<string, IndexRecord['members']>();
  for (const id of await stores.conferences.keys()) {
    let indexed = false;
    // Also where a 16-shard version put it: indexed there, it is listed already.
    for (const shard of directoryShardKeysOf(id)) {
      if (!shards.has(shard)) shards.set(shard, await writer.members(shard));
      if (shards.get(shard)?.[id]) indexed = true;
    }
    if (indexed) continue;
    await writer.add(directoryShardKey(id), id);
    conferences++;
  }
  let legs = 0;
  const byConference = new Map<string, string[]>();
  for (const key of await stores.participants.keys()) {
    const conferenceId = key.slice(0, key.indexOf('.'));
    byConference.set(conferenceId, [...(byConference.get(conferenceId) ?? []), key]);
  }
  for (const [conferenceId, keys] of byConference) {
    if (await stores.indexes.get(rosterIndexKey(conferenceId))) continue;
    for (const key of keys) {
      const p = await stores.participants.get(key);
      if (!p) continue;
      // Without what the roster shows: readers get such a leg's participant record (as for any old entry).
      await writer.add(rosterIndexKey(conferenceId), p.value.legId, p.value.role);
      legs++;
    }
  }
  return { conferences, legs };
}

/** Told of a participant record's deletion: its conference and leg id, and the record's key. */
export type ParticipantDeleteListener = (conferenceId: string, legId: string, key: string) => void;

/**
 * One KV watch over the participants bucket, off the request path, telling each listener of every
 * deletion of a participant record of a conference this replica owns, whichever path made it (a BYE, a
 * relay failover, a timer, removal, another replica that died before tidying up).
 */
export function watchParticipantDeletes(
  participants: KvBucket,
  owns: (conferenceId: string) => boolean,
  listeners: readonly ParticipantDeleteListener[],
): Promise<{ stop(): void }> {
  return participants.watch((event) => {
    if (event.op !== 'delete') return;
    const dot = event.key.indexOf('.');
    if (dot <= 0) return;
    const conferenceId = event.key.slice(0, dot);
    if (!owns(conferenceId)) return;
    const legId = event.key.slice(dot + 1);
    for (const listener of listeners) listener(conferenceId, legId, event.key);
  });
}

/** Keeps roster indexes in step with participant deletions: the leg leaves the index once its record is gone. */
export function rosterIndexRemoval(participants: KvBucket, writer: IndexWriter): ParticipantDeleteListener {
  return (conferenceId, legId, key) =>
    void (async () => {
      // A leg id names one dialog, which never joins twice; the check only spares a record written since.
      if (await participants.get(key)) return;
      await writer.removeQuietly(rosterIndexKey(conferenceId), legId);
    })().catch(() => undefined);
}

/** The watch with only the roster index removal (see watchParticipantDeletes). */
export function followParticipantDeletes(
  participants: KvBucket,
  writer: IndexWriter,
  owns: (conferenceId: string) => boolean,
): Promise<{ stop(): void }> {
  return watchParticipantDeletes(participants, owns, [rosterIndexRemoval(participants, writer)]);
}
