import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rendezvousOwner, rendezvousRank } from './rendezvous.js';

const ids = ['focus-7d9f-a', 'focus-7d9f-b', 'focus-7d9f-c'];
const keys = Array.from({ length: 10_000 }, (_, i) => `conf-${i}`);

describe('rendezvous hashing', () => {
  it('ranks every id, best first, the same way whatever the input order', () => {
    const rank = rendezvousRank('conf-42', ids);
    expect([...rank].sort()).toEqual([...ids].sort());
    expect(rendezvousRank('conf-42', [...ids].reverse())).toEqual(rank);
    expect(rendezvousOwner('conf-42', ids)).toBe(rank[0]);
    expect(rendezvousOwner('conf-42', [])).toBeUndefined();
    expect(rendezvousRank('conf-42', [])).toEqual([]);
  });

  it('is pinned: the same inputs give the same owner in every process and release', () => {
    // Routing breaks if two replicas disagree, so a hash change must be a deliberate, visible one.
    // Weight = first 8 bytes of SHA-256("conf-0\0focus-7d9f-<x>"): a 69d0f285…, b bc3b6c19…, c ae7a0b8c…
    expect(rendezvousRank('conf-0', ids)).toEqual(['focus-7d9f-b', 'focus-7d9f-c', 'focus-7d9f-a']);
    expect(rendezvousRank('conf-2', ids)).toEqual(['focus-7d9f-b', 'focus-7d9f-a', 'focus-7d9f-c']);
    expect(rendezvousRank('conf-3', ids)).toEqual(['focus-7d9f-a', 'focus-7d9f-c', 'focus-7d9f-b']);
  });

  it('spreads 10k keys over 3 ids within 25%–42% each', () => {
    const counts = new Map(ids.map((id) => [id, 0]));
    for (const k of keys) {
      const owner = rendezvousOwner(k, ids) as string;
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    for (const id of ids) {
      const share = (counts.get(id) ?? 0) / keys.length;
      expect(share, id).toBeGreaterThanOrEqual(0.25);
      expect(share, id).toBeLessThanOrEqual(0.42);
    }
  });

  it('moves only the removed id’s keys when an id leaves', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 8 }),
        fc.array(fc.string(), { minLength: 1, maxLength: 30 }),
        fc.nat(),
        (members, sample, pick) => {
          const removed = members[pick % members.length];
          const rest = members.filter((m) => m !== removed);
          for (const key of sample) {
            const before = rendezvousOwner(key, members);
            const after = rendezvousOwner(key, rest);
            if (before !== removed) expect(after).toBe(before);
            // The new owner is the one ranked second before.
            else expect(after).toBe(rendezvousRank(key, members)[1]);
          }
        },
      ),
    );
  });

  it('takes keys only for itself when an id joins', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 8 }),
        fc.array(fc.string(), { minLength: 1, maxLength: 30 }),
        (all, sample) => {
          const [joined, ...before] = all;
          for (const key of sample) {
            const after = rendezvousOwner(key, all);
            if (after !== joined) expect(after).toBe(rendezvousOwner(key, before));
          }
        },
      ),
    );
  });
});
