// Resolution of base fields and relative times (RFC 8428 §4.6).

import { RELATIVE_TIME_LIMIT, type ResolvedRecord, type SenmlPack } from './senml-record.js';

/**
 * Applies base name, time, unit, value and sum to each record (a base field holds until the next
 * record that sets it) and turns times below 2**28 into absolute ones relative to `nowSeconds`.
 * Expects a pack that passed validatePack.
 */
export function resolvePack(pack: SenmlPack, nowSeconds: number): ResolvedRecord[] {
  let bn = '';
  let bt = 0;
  let bu: string | undefined;
  let bv = 0;
  let bs = 0;
  return pack.map((r) => {
    if (r.bn !== undefined) bn = r.bn;
    if (r.bt !== undefined) bt = r.bt;
    if (r.bu !== undefined) bu = r.bu;
    if (r.bv !== undefined) bv = r.bv;
    if (r.bs !== undefined) bs = r.bs;
    const time = bt + (r.t ?? 0);
    const resolved: ResolvedRecord = {
      n: bn + (r.n ?? ''),
      t: time < RELATIVE_TIME_LIMIT ? nowSeconds + time : time,
    };
    const unit = r.u ?? bu;
    if (unit !== undefined) resolved.u = unit;
    // Base value and base sum only adjust a value or sum the record carries (RFC 8428 §4.1).
    if (r.v !== undefined) resolved.v = bv + r.v;
    if (r.vs !== undefined) resolved.vs = r.vs;
    if (r.vb !== undefined) resolved.vb = r.vb;
    if (r.vd !== undefined) resolved.vd = r.vd;
    if (r.s !== undefined) resolved.s = bs + r.s;
    if (r.ut !== undefined) resolved.ut = r.ut;
    return resolved;
  });
}
