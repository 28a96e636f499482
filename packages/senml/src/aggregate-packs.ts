// Aggregate forwarding mode (PROFILE "Media"): records of several publishers as one pack.

import { resolvePack } from './resolve-pack.js';
import type { SenmlPack, SenmlRecord } from './senml-record.js';

/**
 * Resolves the packs of several sources and returns their records as one pack of absolute records
 * (full names, absolute times, no base fields), in time order; records with equal times keep the
 * order of `packs` and of each pack.
 */
export function aggregatePacks(packs: { source: string; pack: SenmlPack }[], nowSeconds: number): SenmlPack {
  const records = packs.flatMap(({ pack }) => resolvePack(pack, nowSeconds));
  // Array.prototype.sort is stable, which keeps the arrival order for equal times.
  return records.sort((a, b) => a.t - b.t).map((r): SenmlRecord => ({ ...r }));
}
