import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PortPool } from './port-pool.js';

describe('PortPool', () => {
  it('hands out ports round-robin, skips ports that fail to bind, and reports exhaustion', async () => {
    const pool = new PortPool(100, 103);
    const busy = new Set([101]);
    const bind = async (p: number) => !busy.has(p);
    expect(await pool.acquire(bind)).toBe(100);
    expect(await pool.acquire(bind)).toBe(102);
    expect(await pool.acquire(bind)).toBe(103);
    await expect(pool.acquire(bind)).rejects.toThrow('no free RTP port in 100-103');
    pool.release(102);
    expect(await pool.acquire(bind)).toBe(102);
    expect(pool.inUse).toBe(3);
  });

  it('a release by a leg that no longer holds the port does not free the new holder’s', async () => {
    const pool = new PortPool(100, 100);
    const bind = async () => true;
    expect(await pool.acquire(bind, 'a')).toBe(100);
    expect(pool.release(100, 'a')).toBe(true);
    expect(await pool.acquire(bind, 'b')).toBe(100);
    expect(pool.release(100, 'a')).toBe(false);
    expect(pool.holds(100)).toBe(true);
    expect(pool.release(100, 'b')).toBe(true);
    expect(pool.release(100, 'b')).toBe(false);
  });

  it('random interleavings of acquire, release, double and stale release and failed binds never leak or double-free', async () => {
    type Op =
      | { op: 'acquire'; owner: number; fails: boolean; concurrent: boolean }
      | { op: 'release'; which: number; owner: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        op: fc.constant('acquire' as const),
        owner: fc.nat({ max: 20 }),
        fails: fc.boolean(),
        concurrent: fc.boolean(),
      }),
      fc.record({ op: fc.constant('release' as const), which: fc.nat(), owner: fc.nat({ max: 20 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 120 }), async (ops) => {
        const min = 1_000;
        const size = 6;
        const pool = new PortPool(min, min + size - 1);
        // The model: which owner holds which port.
        const model = new Map<number, string>();
        const inFlight: Promise<void>[] = [];
        for (const o of ops) {
          if (o.op === 'acquire') {
            const owner = `leg${o.owner}`;
            const run = pool
              .acquire(async (port) => {
                // A port being bound is never held by anyone else.
                expect(model.has(port)).toBe(false);
                await Promise.resolve();
                return !o.fails;
              }, owner)
              .then(
                (port) => {
                  expect(model.has(port)).toBe(false);
                  model.set(port, owner);
                },
                (err: Error) => expect(err.message).toMatch(/no free RTP port/),
              );
            if (o.concurrent) inFlight.push(run);
            else await run;
          } else {
            await Promise.all(inFlight.splice(0));
            const held = [...model.keys()];
            const port =
              held.length > 0 && o.which % 2 === 0 ? held[o.which % held.length] : min + (o.which % size);
            const owner = o.which % 3 === 0 ? model.get(port) : `leg${o.owner}`;
            const shouldFree = model.has(port) && (owner === undefined || model.get(port) === owner);
            expect(pool.release(port, owner)).toBe(shouldFree);
            if (shouldFree) model.delete(port);
          }
          if (inFlight.length > 0) continue;
          expect(pool.inUse).toBe(model.size);
          for (let p = min; p < min + size; p++) expect(pool.holds(p)).toBe(model.has(p));
        }
        await Promise.all(inFlight.splice(0));
        expect(pool.inUse).toBe(model.size);
        // Everything released, every port can be had again: nothing leaked.
        for (const [port, owner] of model) expect(pool.release(port, owner)).toBe(true);
        expect(pool.inUse).toBe(0);
        const all = new Set<number>();
        for (let i = 0; i < size; i++) all.add(await pool.acquire(async () => true));
        expect(all.size).toBe(size);
      }),
      { numRuns: 300 },
    );
  });
});
