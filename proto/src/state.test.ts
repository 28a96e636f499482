import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DIRECTORY_SHARDS,
  directoryIdsOf,
  directoryShardKey,
  directoryShardKeys,
  directoryShardKeysOf,
} from './state';

describe('directory shards', () => {
  it('a conference id is added to one of the shards readers read; a removal also clears its 16-shard place', () => {
    const all = new Set(directoryShardKeys());
    const earlier = new Set(directoryShardKeys().slice(0, 16));
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (id) => {
        const keys = directoryShardKeysOf(id);
        expect(keys[0]).toBe(directoryShardKey(id));
        for (const k of keys) expect(all.has(k)).toBe(true);
        // The last key is where 16 shards put it: one of the first 16, the same for ids equal mod 16.
        expect(earlier.has(keys.at(-1)!)).toBe(true);
        expect(new Set(keys).size).toBe(keys.length);
      }),
    );
  });

  it('spreads ids so that a creation rewrites about 1/256 of the directory, not 1/16', () => {
    // Random ids, as the focus makes them; 100 per shard on average.
    const counts = new Map<string, number>();
    const n = DIRECTORY_SHARDS * 100;
    for (let i = 0; i < n; i++) {
      const key = directoryShardKey(randomBytes(8).toString('hex'));
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(256);
    // Binomial(25,600, 1/256): a standard deviation of 10, so 200 is far out of reach of chance.
    expect(Math.max(...counts.values())).toBeLessThan(200);
  });

  it('lists each conference id once, whichever shards (or none) hold it', () => {
    const shard = (...ids: string[]) => ({
      value: { members: Object.fromEntries(ids.map((id) => [id, { at: 1 }])) },
    });
    expect(directoryIdsOf([shard('b', 'a'), null, shard('a', 'c'), undefined])).toEqual(['a', 'b', 'c']);
  });
});
