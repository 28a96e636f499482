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
});
