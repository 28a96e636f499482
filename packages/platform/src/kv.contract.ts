// The behaviour every KvStore implementation must have; kv.test.ts runs it in process and on NATS.
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { JsonBucket, KvValueError } from './json-bucket.js';
import { InvalidKvKeyError, type KvBucket, KvConflictError, type KvStore, type KvWatchEvent } from './kv.js';
import { kvKey } from './kv-key.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (v: Uint8Array | null | undefined) => (v ? dec.decode(v) : v);

let bucketCounter = 0;

export function describeKvContract(name: string, makeStore: () => KvStore): void {
  describe(`KvBucket contract: ${name}`, () => {
    const store = makeStore();
    // A fresh bucket per test so tests never see each other's keys.
    const fresh = () => store.bucket(`t${++bucketCounter}_${process.pid}`);

    it('reads a missing key as null, and a put value with its revision', async () => {
      const kv = await fresh();
      expect(await kv.get('conf.c1')).toBeNull();
      const rev = await kv.put('conf.c1', enc.encode('v1'));
      expect(rev).toBeGreaterThan(0);
      const entry = await kv.get('conf.c1');
      expect(entry).not.toBeNull();
      expect(entry?.key).toBe('conf.c1');
      expect(text(entry?.value)).toBe('v1');
      expect(entry?.revision).toBe(rev);
    });

    it('numbers writes with revisions that increase across the bucket', async () => {
      const kv = await fresh();
      const r1 = await kv.put('a', enc.encode('1'));
      const r2 = await kv.put('b', enc.encode('2'));
      const r3 = await kv.put('a', enc.encode('3'));
      expect(r2).toBeGreaterThan(r1);
      expect(r3).toBeGreaterThan(r2);
    });

    it('creates only if absent: a second create conflicts and leaves the value alone', async () => {
      const kv = await fresh();
      const rev = await kv.create('topics.t1', enc.encode('c1'));
      await expect(kv.create('topics.t1', enc.encode('c2'))).rejects.toBeInstanceOf(KvConflictError);
      const entry = await kv.get('topics.t1');
      expect(text(entry?.value)).toBe('c1');
      expect(entry?.revision).toBe(rev);
    });

    it('updates only at the expected revision (compare-and-set)', async () => {
      const kv = await fresh();
      const r1 = await kv.create('k', enc.encode('1'));
      const r2 = await kv.update('k', enc.encode('2'), r1);
      expect(r2).toBeGreaterThan(r1);
      await expect(kv.update('k', enc.encode('stale'), r1)).rejects.toBeInstanceOf(KvConflictError);
      await expect(kv.update('missing', enc.encode('x'), r2)).rejects.toBeInstanceOf(KvConflictError);
      const entry = await kv.get('k');
      expect(text(entry?.value)).toBe('2');
      expect(entry?.revision).toBe(r2);
    });

    it('revision checks see writes to the key from any writer', async () => {
      const kv = await fresh();
      const r1 = await kv.put('k', enc.encode('1'));
      await kv.put('k', enc.encode('other writer'));
      await expect(kv.update('k', enc.encode('2'), r1)).rejects.toBeInstanceOf(KvConflictError);
    });

    it('deletes: the key reads as null, leaves keys(), and can be created again', async () => {
      const kv = await fresh();
      await kv.create('p.1', enc.encode('x'));
      await kv.put('p.2', enc.encode('y'));
      await kv.delete('p.1');
      expect(await kv.get('p.1')).toBeNull();
      expect(await kv.keys()).toEqual(['p.2']);
      const rev = await kv.create('p.1', enc.encode('again'));
      const entry = await kv.get('p.1');
      expect(text(entry?.value)).toBe('again');
      expect(entry?.revision).toBe(rev);
    });

    it('deletes at an expected revision only', async () => {
      const kv = await fresh();
      const r1 = await kv.put('k', enc.encode('1'));
      const r2 = await kv.update('k', enc.encode('2'), r1);
      await expect(kv.delete('k', r1)).rejects.toBeInstanceOf(KvConflictError);
      expect(text((await kv.get('k'))?.value)).toBe('2');
      await kv.delete('k', r2);
      expect(await kv.get('k')).toBeNull();
    });

    it('lists live keys, optionally by string prefix, sorted', async () => {
      const kv = await fresh();
      expect(await kv.keys()).toEqual([]);
      for (const k of ['conf.b', 'conf.a', 'confx', 'topic.a', 'conf.a.sub']) await kv.put(k, enc.encode(k));
      await kv.delete('topic.a');
      expect(await kv.keys()).toEqual(['conf.a', 'conf.a.sub', 'conf.b', 'confx']);
      expect(await kv.keys('conf.')).toEqual(['conf.a', 'conf.a.sub', 'conf.b']);
      expect(await kv.keys('conf')).toEqual(['conf.a', 'conf.a.sub', 'conf.b', 'confx']);
      expect(await kv.keys('conf.a')).toEqual(['conf.a', 'conf.a.sub']);
      expect(await kv.keys('topic.')).toEqual([]);
    });

    it('watches puts and deletes made after the call, in order, filtered by prefix', async () => {
      const kv = await fresh();
      await kv.put('conf.before', enc.encode('old'));
      const events: KvWatchEvent[] = [];
      const watch = await kv.watch((e) => events.push(e), { prefix: 'conf.' });
      const r1 = await kv.put('conf.c1', enc.encode('v1'));
      await kv.put('other.c1', enc.encode('ignored'));
      const r2 = await kv.update('conf.c1', enc.encode('v2'), r1);
      await kv.delete('conf.c1');
      await vi.waitFor(() => expect(events).toHaveLength(3), { timeout: 5000, interval: 5 });
      expect(events.map((e) => [e.key, e.op, text(e.value)])).toEqual([
        ['conf.c1', 'put', 'v1'],
        ['conf.c1', 'put', 'v2'],
        ['conf.c1', 'delete', null],
      ]);
      expect(events[0].revision).toBe(r1);
      expect(events[1].revision).toBe(r2);
      expect(events[2].revision).toBeGreaterThan(r2);
      watch.stop();
      await kv.put('conf.after', enc.encode('late'));
      // A second watcher proves the write was published; the stopped one must not see it.
      const later: KvWatchEvent[] = [];
      const probe = await kv.watch((e) => later.push(e));
      await kv.put('conf.after2', enc.encode('late'));
      await vi.waitFor(() => expect(later).toHaveLength(1), { timeout: 5000, interval: 5 });
      probe.stop();
      expect(events).toHaveLength(3);
    });

    it('watches every key without a prefix', async () => {
      const kv = await fresh();
      const events: KvWatchEvent[] = [];
      const watch = await kv.watch((e) => events.push(e));
      await kv.put('a', enc.encode('1'));
      await kv.put('b.c', enc.encode('2'));
      await vi.waitFor(() => expect(events.map((e) => e.key)).toEqual(['a', 'b.c']), {
        timeout: 5000,
        interval: 5,
      });
      watch.stop();
    });

    it('purges delete markers: stored() comes back to the live values after deletes', async () => {
      const kv = await fresh();
      await kv.put('live', enc.encode('stays'));
      for (let i = 0; i < 20; i++) {
        await kv.create(`leg.${i}`, enc.encode('x'));
        await kv.delete(`leg.${i}`);
      }
      // Markers may stay for the store's grace (watchers must see the delete), then they go.
      await vi.waitFor(async () => expect(await kv.stored()).toBe(1), { timeout: 10_000, interval: 50 });
      expect(await kv.keys()).toEqual(['live']);
      expect(text((await kv.get('live'))?.value)).toBe('stays');
    });

    it('the purge of a delete never removes a value written after it', async () => {
      const kv = await fresh();
      await kv.create('k', enc.encode('first'));
      await kv.delete('k');
      const rev = await kv.create('k', enc.encode('second'));
      await kv.create('other', enc.encode('x'));
      await kv.delete('other');
      await vi.waitFor(async () => expect(await kv.stored()).toBe(1), { timeout: 10_000, interval: 50 });
      const entry = await kv.get('k');
      expect(text(entry?.value)).toBe('second');
      expect(entry?.revision).toBe(rev);
      await kv.update('k', enc.encode('third'), rev);
    });

    it('a watcher sees a delete even though its marker is purged', async () => {
      const kv = await fresh();
      const events: KvWatchEvent[] = [];
      const watch = await kv.watch((e) => events.push(e));
      await kv.create('k', enc.encode('v'));
      await kv.delete('k');
      await vi.waitFor(() => expect(events.map((e) => e.op)).toEqual(['put', 'delete']), {
        timeout: 5000,
        interval: 5,
      });
      watch.stop();
    });

    it('rejects keys NATS would refuse', async () => {
      const kv = await fresh();
      for (const bad of ['', '.a', 'a.', 'a..b', 'a b', 'a*', 'a>', 'ü']) {
        await expect(kv.put(bad, enc.encode('x')), bad).rejects.toBeInstanceOf(InvalidKvKeyError);
        await expect(kv.get(bad), bad).rejects.toBeInstanceOf(InvalidKvKeyError);
      }
    });

    it('stores any kvKey-encoded key', async () => {
      const kv = await fresh();
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.string({ unit: 'binary' }), { minLength: 1, maxLength: 3 }),
          async (parts) => {
            const key = kvKey(...parts);
            await kv.put(key, enc.encode(JSON.stringify(parts)));
            expect(JSON.parse(text((await kv.get(key))?.value) ?? 'null')).toEqual(parts);
          },
        ),
        { numRuns: 25 },
      );
    });

    it('gives the same bucket to every opener of a name', async () => {
      const name = `shared${++bucketCounter}_${process.pid}`;
      const one = await store.bucket(name);
      const two = await store.bucket(name);
      await one.put('k', enc.encode('shared'));
      expect(text((await two.get('k'))?.value)).toBe('shared');
    });

    describe('JsonBucket', () => {
      const schema = z.object({ members: z.array(z.string()) });
      type Doc = z.infer<typeof schema>;
      const add =
        (name: string) =>
        (cur: Doc | null): Doc => ({ members: [...(cur?.members ?? []), name] });

      it('round-trips values and validates them on read, naming the key', async () => {
        const raw = await fresh();
        const docs = new JsonBucket(raw, schema);
        const rev = await docs.create('c1', { members: ['a'] });
        expect(await docs.get('c1')).toEqual({ value: { members: ['a'] }, revision: rev });
        expect(await docs.get('c0')).toBeNull();
        await raw.put('bad', enc.encode('{"members": 3}'));
        await raw.put('notjson', enc.encode('{'));
        await expect(docs.get('bad')).rejects.toThrow(KvValueError);
        await expect(docs.get('bad')).rejects.toThrow(/bad/);
        await expect(docs.get('notjson')).rejects.toThrow(/notjson/);
      });

      it('mutate creates, updates, keeps (undefined) and deletes (null)', async () => {
        const docs = new JsonBucket(await fresh(), schema);
        expect(await docs.mutate('c1', add('a'))).toEqual({ members: ['a'] });
        expect(await docs.mutate('c1', add('b'))).toEqual({ members: ['a', 'b'] });
        const before = await docs.get('c1');
        expect(await docs.mutate('c1', () => undefined)).toEqual({ members: ['a', 'b'] });
        expect((await docs.get('c1'))?.revision).toBe(before?.revision);
        expect(await docs.mutate('c1', () => null)).toBeNull();
        expect(await docs.get('c1')).toBeNull();
        expect(await docs.mutate('c1', () => null)).toBeNull();
      });

      it('two racing mutates both apply', async () => {
        const docs = new JsonBucket(await fresh(), schema);
        await docs.create('c1', { members: [] });
        let calls = 0;
        const counted = (name: string) => (cur: Doc | null) => {
          calls++;
          return add(name)(cur);
        };
        await Promise.all([docs.mutate('c1', counted('a')), docs.mutate('c1', counted('b'))]);
        expect((await docs.get('c1'))?.value.members.sort()).toEqual(['a', 'b']);
        expect(calls).toBeGreaterThanOrEqual(2);
      });

      it('retries when another writer changes the key between read and write', async () => {
        const raw = await fresh();
        let interfered = false;
        // Another replica writes right after mutate has read: its CAS write must fail and retry.
        const racing: KvBucket = {
          ...raw,
          get: raw.get.bind(raw),
          create: raw.create.bind(raw),
          put: raw.put.bind(raw),
          delete: raw.delete.bind(raw),
          keys: raw.keys.bind(raw),
          stored: raw.stored.bind(raw),
          watch: raw.watch.bind(raw),
          update: async (key, value, rev) => {
            if (!interfered) {
              interfered = true;
              await raw.put(key, enc.encode(JSON.stringify({ members: ['x', 'other'] })));
            }
            return raw.update(key, value, rev);
          },
        };
        const docs = new JsonBucket(racing, schema);
        await docs.create('c1', { members: ['x'] });
        const calls: (Doc | null)[] = [];
        const result = await docs.mutate('c1', (cur) => {
          calls.push(cur);
          return add('mine')(cur);
        });
        expect(calls).toEqual([{ members: ['x'] }, { members: ['x', 'other'] }]);
        expect(result).toEqual({ members: ['x', 'other', 'mine'] });
        expect((await docs.get('c1'))?.value).toEqual({ members: ['x', 'other', 'mine'] });
      });

      it('gives up with KvConflictError after 10 conflicting tries', async () => {
        const raw = await fresh();
        const hostile: KvBucket = {
          get: raw.get.bind(raw),
          create: raw.create.bind(raw),
          put: raw.put.bind(raw),
          delete: raw.delete.bind(raw),
          keys: raw.keys.bind(raw),
          stored: raw.stored.bind(raw),
          watch: raw.watch.bind(raw),
          update: async (key, value, rev) => {
            await raw.put(key, enc.encode('{"members":[]}'));
            return raw.update(key, value, rev);
          },
        };
        const docs = new JsonBucket(hostile, schema);
        await docs.create('c1', { members: [] });
        let calls = 0;
        await expect(
          docs.mutate('c1', (cur) => {
            calls++;
            return add('a')(cur);
          }),
        ).rejects.toBeInstanceOf(KvConflictError);
        expect(calls).toBe(10);
      });
    });
  });
}
