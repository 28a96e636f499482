import { createHash } from 'node:crypto';

// Weight of (key, member): the first 64 bits of SHA-256 over both, so every process, whatever its
// language or platform, ranks the same way. The NUL separator keeps ("ab","c") apart from ("a","bc").
function weight(key: string, memberId: string): bigint {
  return createHash('sha256').update(key).update('\u0000').update(memberId).digest().readBigUInt64BE(0);
}

/**
 * Highest-random-weight ranking of `memberIds` for `key`, best first. Removing a member only moves
 * the keys it ranked first; adding one only takes keys from others.
 */
export function rendezvousRank(key: string, memberIds: readonly string[]): string[] {
  const scored = [...new Set(memberIds)].map((id) => ({ id, w: weight(key, id) }));
  // Ties (astronomically unlikely) fall back to the id so the order is still total.
  scored.sort((a, b) => (a.w === b.w ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.w > b.w ? -1 : 1));
  return scored.map((s) => s.id);
}

export function rendezvousOwner(key: string, memberIds: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const id of memberIds) {
    const w = weight(key, id);
    if (w > bestWeight || (w === bestWeight && best !== undefined && id < best)) {
      best = id;
      bestWeight = w;
    }
  }
  return best;
}
