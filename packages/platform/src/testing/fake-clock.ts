import type { MembershipClock } from '../membership.js';

interface Timer {
  id: number;
  fn: () => void;
  every: number;
  due: number;
}

/** A manual clock for engines that take one: time moves only through advance(). */
export class FakeClock implements MembershipClock {
  private time: number;
  private nextId = 1;
  private readonly timers = new Map<number, Timer>();

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setInterval(fn: () => void, ms: number): number {
    const id = this.nextId++;
    this.timers.set(id, { id, fn, every: Math.max(1, ms), due: this.time + Math.max(1, ms) });
    return id;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = this.nextId++;
    this.timers.set(id, { id, fn, every: 0, due: this.time + Math.max(0, ms) });
    return id;
  }

  clearInterval(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Moves time forward, firing each due timer at its due time, earliest first. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.timers.values()) if (t.due <= end && (!next || t.due < next.due)) next = t;
      if (!next) break;
      this.time = next.due;
      if (next.every > 0) next.due += next.every;
      else this.timers.delete(next.id);
      next.fn();
    }
    this.time = end;
  }
}
