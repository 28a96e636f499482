import { createLogger, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { CountingKvStore } from '@sip-pubsub/platform/testing';
import {
  directoryShardKey,
  directoryShardKeysOf,
  type IndexRecord,
  indexRecordSchema,
  participantRecordSchema,
  rosterIndexKey,
} from '@sip-pubsub/proto';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { backfillIndexes, followParticipantDeletes, IndexWriter, STALE_INDEX_ENTRY_MS } from './indexes.js';

const quiet = createLogger('test', { level: 'silent' });

async function setup() {
  const raw = await new InProcessKvStore().bucket('indexes');
  const bucket = new JsonBucket<IndexRecord>(raw, indexRecordSchema);
  let now = 1_000_000;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  return { raw, bucket, clock, writer: () => new IndexWriter(bucket, clock.now, quiet) };
}

describe('IndexWriter', () => {
  it('writes a record it wrote last with one compare-and-set, and reads it afresh after another writer', async () => {
    const kv = new CountingKvStore(new InProcessKvStore());
    const bucket = new JsonBucket<IndexRecord>(await kv.bucket('indexes'), indexRecordSchema);
    const ours = new IndexWriter(bucket, () => 1, quiet);
    const theirs = new IndexWriter(bucket, () => 1, quiet);
    await ours.add('roster.c1', 'l1', 'subscriber', 10);
    // Our own last write is the record's latest: no read needed for the next one.
    expect((await kv.during(() => ours.add('roster.c1', 'l2', 'publisher', 10))).by).toEqual({
      'indexes.update': 1,
    });
    expect(
      (
        await kv.during(() =>
          ours.show('roster.c1', 'l2', 'publisher', { aor: 'a', contact: 'c', joinedAt: 1 }),
        )
      ).by,
    ).toEqual({ 'indexes.update': 1 });
    // Another replica wrote in between: our compare-and-set fails, we read and write again; nothing is lost.
    await theirs.add('roster.c1', 'l3', 'subscriber', 10);
    expect((await kv.during(() => ours.remove('roster.c1', 'l1'))).by).toEqual({
      'indexes.update': 2,
      'indexes.get': 1,
    });
    expect(Object.keys(await ours.members('roster.c1')).sort()).toEqual(['l2', 'l3']);
    expect((await ours.members('roster.c1')).l2.shown).toEqual({ aor: 'a', contact: 'c', joinedAt: 1 });
    // A refusal is never decided on the remembered copy: the limit is judged on the stored record.
    await theirs.remove('roster.c1', 'l3');
    expect(await ours.add('roster.c1', 'l4', 'subscriber', 2)).toBe(true);
    expect(await ours.add('roster.c1', 'l5', 'subscriber', 2)).toBe(false);
  });

  it('holds the limit when many adds race, in one process and across two writers (replicas)', async () => {
    const { writer } = await setup();
    const a = writer();
    const b = writer();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).add('roster.c1', `leg${i}`, 'subscriber', 5)),
    );
    expect(results.filter(Boolean)).toHaveLength(5);
    expect(Object.keys(await a.members('roster.c1'))).toHaveLength(5);
    // An existing member is updated even when the record is full.
    const first = Object.keys(await a.members('roster.c1'))[0];
    expect(await a.add('roster.c1', first, 'publisher', 5)).toBe(true);
    expect((await a.members('roster.c1'))[first].role).toBe('publisher');
  });

  it('holds per-role caps for new members and role changes, counting both as each, across writers', async () => {
    const { writer } = await setup();
    const a = writer();
    const b = writer();
    const caps = { publishers: 2, subscribers: 1 };
    const publishers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).add('roster.c1', `p${i}`, 'publisher', 100, caps)),
    );
    expect(publishers.filter(Boolean)).toHaveLength(2);
    expect(await a.add('roster.c1', 's1', 'subscriber', 100, caps)).toBe(true);
    expect(await b.add('roster.c1', 's2', 'subscriber', 100, caps)).toBe(false);
    // `both` needs a place of each kind; inactive needs none.
    expect(await a.add('roster.c1', 'x', 'both', 100, caps)).toBe(false);
    expect(await a.add('roster.c1', 'i', 'inactive', 100, caps)).toBe(true);
    // A role change is held too, and a member keeps the place it already has.
    expect(await a.add('roster.c1', 'i', 'subscriber', 100, caps)).toBe(false);
    expect(await a.add('roster.c1', 's1', 'subscriber', 100, caps)).toBe(true);
    const roles = Object.values(await a.members('roster.c1')).map((m) => m.role);
    expect(roles.sort()).toEqual(['inactive', 'publisher', 'publisher', 'subscriber']);
  });

  it('removes members and deletes the record once it is empty, leaving nothing stored', async () => {
    const { writer, raw } = await setup();
    const w = writer();
    await w.add('roster.c1', 'l1');
    await w.add('roster.c1', 'l2');
    await w.remove('roster.c1', 'l1');
    expect(Object.keys(await w.members('roster.c1'))).toEqual(['l2']);
    await w.remove('roster.c1', 'l2');
    expect(await raw.get('roster.c1')).toBeNull();
    expect(await raw.stored()).toBe(0);
  });

  it('prunes only old entries whose record is gone, so a full conference frees the places of lost legs', async () => {
    const { writer, clock } = await setup();
    const w = writer();
    await w.add('roster.c1', 'lost', 'subscriber', 2);
    await w.add('roster.c1', 'alive', 'subscriber', 2);
    expect(await w.add('roster.c1', 'new', 'subscriber', 2)).toBe(false);
    const exists = async (leg: string) => leg === 'alive';
    // Too young: it may be a join still being written.
    expect(await w.prune('roster.c1', exists)).toBe(0);
    clock.advance(STALE_INDEX_ENTRY_MS);
    expect(await w.prune('roster.c1', exists)).toBe(1);
    expect(await w.add('roster.c1', 'new', 'subscriber', 2)).toBe(true);
    expect(Object.keys(await w.members('roster.c1')).sort()).toEqual(['alive', 'new']);
  });
});

/** The buckets backfillIndexes reads and writes, empty. */
async function backfillStores() {
  const kv = new InProcessKvStore();
  return {
    indexes: new JsonBucket<IndexRecord>(await kv.bucket('indexes'), indexRecordSchema),
    conferences: new JsonBucket(await kv.bucket('conferences'), z.unknown()),
    participants: new JsonBucket(
      await kv.bucket('participants'),
      participantRecordSchema.pick({ conferenceId: true, legId: true, role: true }),
    ),
  };
}

describe('backfillIndexes', () => {
  it('indexes conferences and participants written before the index existed, and leaves live rosters alone', async () => {
    const { indexes, conferences, participants } = await backfillStores();
    for (const id of ['c1', 'c2']) await conferences.put(id, { id });
    await participants.put('c1.l1', { conferenceId: 'c1', legId: 'l1', role: 'publisher' });
    await participants.put('c1.l2', { conferenceId: 'c1', legId: 'l2', role: 'subscriber' });
    await participants.put('c2.l3', { conferenceId: 'c2', legId: 'l3', role: 'subscriber' });
    const writer = new IndexWriter(indexes, () => 1, quiet);
    // c2 already has a roster record: it is live and must not be touched.
    await writer.add(rosterIndexKey('c2'), 'l9', 'both');

    expect(await backfillIndexes({ conferences, participants, indexes }, writer)).toEqual({
      conferences: 2,
      legs: 2,
    });
    expect(await writer.members(rosterIndexKey('c1'))).toEqual({
      l1: { role: 'publisher', at: 1 },
      l2: { role: 'subscriber', at: 1 },
    });
    expect(Object.keys(await writer.members(rosterIndexKey('c2')))).toEqual(['l9']);
    for (const id of ['c1', 'c2'])
      expect(Object.keys(await writer.members(directoryShardKey(id)))).toContain(id);
    // Twice is harmless.
    expect(await backfillIndexes({ conferences, participants, indexes }, writer)).toEqual({
      conferences: 0,
      legs: 0,
    });
  });

  it('after the directory went from 16 to 256 shards: an id a 16-shard version indexed gets no second entry', async () => {
    const { indexes, conferences, participants } = await backfillStores();
    const ids = Array.from({ length: 40 }, (_, i) => `conf${i}`);
    const moved = ids.filter((id) => directoryShardKeysOf(id).length === 2);
    expect(moved.length).toBeGreaterThan(0);
    const writer = new IndexWriter(indexes, () => 1, quiet);
    for (const id of ids) await conferences.put(id, { id });
    // The earlier version indexed every one of them in its 16-shard place.
    for (const id of ids) await writer.add(directoryShardKeysOf(id).at(-1)!, id);

    expect(await backfillIndexes({ conferences, participants, indexes }, writer)).toEqual({
      conferences: 0,
      legs: 0,
    });
    for (const id of moved) expect(await writer.members(directoryShardKey(id))).not.toHaveProperty(id);
  });
});

describe('followParticipantDeletes', () => {
  it('removes a leg deleted by any path from the roster index of an owned conference', async () => {
    const kv = new InProcessKvStore();
    const raw = await kv.bucket('participants');
    const indexes = new JsonBucket<IndexRecord>(await kv.bucket('indexes'), indexRecordSchema);
    const writer = new IndexWriter(indexes, () => 1, quiet);
    const watch = await followParticipantDeletes(raw, writer, (conferenceId) => conferenceId !== 'theirs');
    try {
      const bytes = new TextEncoder().encode('{}');
      for (const [conf, leg] of [
        ['c1', 'gone'],
        ['c1', 'stays'],
        ['theirs', 'gone'],
      ]) {
        await raw.put(`${conf}.${leg}`, bytes);
        await writer.add(rosterIndexKey(conf), leg, 'subscriber');
      }
      // Deleted without touching the index, as a path that forgot it would.
      await raw.delete('c1.gone');
      await raw.delete('theirs.gone');
      await vi.waitFor(
        async () => expect(Object.keys(await writer.members(rosterIndexKey('c1')))).toEqual(['stays']),
        {
          timeout: 5_000,
          interval: 10,
        },
      );
      // Not ours: its owner cleans it.
      expect(Object.keys(await writer.members(rosterIndexKey('theirs')))).toEqual(['gone']);
    } finally {
      watch.stop();
    }
  });
});
