import { InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { retainedKey, retainedValuesSchema } from '@sip-pubsub/proto';
import { describe, expect, it } from 'vitest';
import { RetainedValuesStore } from './retained-values.js';

const CONF = 'conf1';

async function store(ttlMs: number, maxNames?: number) {
  let now = 1_000_000;
  const bucket = new JsonBucket(await new InProcessKvStore().bucket('publications'), retainedValuesSchema);
  const retained = new RetainedValuesStore(bucket, { ttlMs, maxNames, now: () => now });
  return { bucket, retained, advance: (ms: number) => (now += ms) };
}

describe('RetainedValuesStore', () => {
  it('keeps the latest record per name, RTP ones for RETAIN_TTL, PUBLISHed ones until their publication goes', async () => {
    const { retained, advance } = await store(60_000);
    await retained.addRtp(CONF, [
      { n: 'a', t: 1, v: 1 },
      { n: 'b', t: 1, v: 1 },
    ]);
    advance(10_000);
    await retained.addRtp(CONF, [{ n: 'a', t: 2, v: 2 }]);
    await retained.addPublished(CONF, [{ n: 'p', t: 3, vs: 'on' }], 'pub1');
    await retained.addPublished(CONF, [{ n: 'q', t: 3, vb: true }], 'pub2');
    expect((await retained.current(CONF)).map((r) => [r.n, r.v ?? r.vs ?? r.vb])).toEqual([
      ['b', 1],
      ['a', 2],
      ['p', 'on'],
      ['q', true],
    ]);
    advance(50_000); // b is 60 s old now: lapsed; a is 50 s old
    expect((await retained.current(CONF)).map((r) => r.n)).toEqual(['a', 'p', 'q']);
    await retained.dropPublication(CONF, 'pub1');
    expect((await retained.current(CONF)).map((r) => r.n)).toEqual(['a', 'q']);
    advance(3_600_000); // PUBLISHed records do not lapse with RETAIN_TTL
    expect((await retained.current(CONF)).map((r) => r.n)).toEqual(['q']);
  });

  it('retains no RTP record with RETAIN_TTL 0, and deletes the record when nothing is left', async () => {
    const { bucket, retained } = await store(0);
    await retained.addRtp(CONF, [{ n: 'a', t: 1, v: 1 }]);
    expect(await bucket.get(retainedKey(CONF))).toBeNull();
    await retained.addPublished(CONF, [{ n: 'p', t: 1, v: 1 }], 'pub1');
    expect(await retained.current(CONF)).toHaveLength(1);
    await retained.dropPublication(CONF, 'pub1');
    expect(await bucket.get(retainedKey(CONF))).toBeNull();
  });

  it('loses no record when many writes for one topic race (they are coalesced into compare-and-set batches)', async () => {
    const { retained } = await store(60_000);
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => retained.addRtp(CONF, [{ n: `s${i}`, t: 1, v: i }])),
    );
    const names = (await retained.current(CONF)).map((r) => r.n).sort();
    expect(names).toEqual(Array.from({ length: 50 }, (_, i) => `s${i}`).sort());
  });
  it('keeps at most RETAIN_MAX_NAMES names, dropping the oldest arrivals', async () => {
    const { retained, advance } = await store(60_000, 3);
    for (const n of ['a', 'b', 'c', 'd']) {
      await retained.addRtp(CONF, [{ n, t: 1, v: 1 }]);
      advance(1);
    }
    await retained.addRtp(CONF, [{ n: 'b', t: 2, v: 2 }]); // b arrives again: now the newest
    advance(1);
    await retained.addRtp(CONF, [{ n: 'e', t: 2, v: 2 }]);
    expect((await retained.current(CONF)).map((r) => r.n)).toEqual(['d', 'b', 'e']);
  });
});
