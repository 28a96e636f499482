// The edge holds the 2xx of a dial-out INVITE until its owner's ACK (owner-acks.ts), on a fake clock:
// an ACK in time releases it (nothing ended), none in time ends it once, a late ACK is told so.
import { describe, expect, it } from 'vitest';
import { type OwnerAckTimers, OwnerAckWatch } from './owner-acks.js';

/** Timers on a clock that moves only when told. */
class FakeClock implements OwnerAckTimers {
  now = 1_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 0;
  set(fn: () => void, ms: number): unknown {
    const id = ++this.next;
    this.timers.push({ at: this.now + ms, fn, id });
    return id;
  }
  clear(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.now = due.at;
      this.clear(due.id);
      due.fn();
    }
    this.now = until;
  }
  get pending(): number {
    return this.timers.length;
  }
}

function watch(clock: FakeClock, maxEntries?: number) {
  const ended: string[] = [];
  const w = new OwnerAckWatch<string>({
    timeoutMs: 1_600,
    rememberMs: 6_400,
    onMissing: (value) => ended.push(value),
    timers: clock,
    now: () => clock.now,
    ...(maxEntries ? { maxEntries } : {}),
  });
  return { w, ended };
}

describe('OwnerAckWatch', () => {
  it("an owner's ACK within the bound releases the held 2xx and ends nothing", () => {
    const clock = new FakeClock();
    const { w, ended } = watch(clock);
    w.expect('call-1', 1, 'dialog 1');
    clock.advance(1_599);
    expect(w.confirm('call-1', 1)).toEqual({ kind: 'pending', value: 'dialog 1' });
    clock.advance(10_000);
    expect(ended).toEqual([]);
    expect(w.size).toBe(0);
    expect(clock.pending).toBe(0);
    // A retransmitted ACK of the owner finds nothing held any more.
    expect(w.confirm('call-1', 1)).toEqual({ kind: 'unknown' });
  });

  it('no ACK within the bound: the dialog is handed over to be ended, once; a late ACK hears it was', () => {
    const clock = new FakeClock();
    const { w, ended } = watch(clock);
    w.expect('call-1', 1, 'dialog 1');
    w.expect('call-2', 1, 'dialog 2');
    clock.advance(1_600);
    expect(ended).toEqual(['dialog 1', 'dialog 2']);
    clock.advance(5_000);
    expect(ended).toHaveLength(2);
    expect(w.confirm('call-1', 1)).toEqual({ kind: 'given-up' });
    // Remembered for rememberMs only.
    clock.advance(1_400);
    expect(w.confirm('call-2', 1)).toEqual({ kind: 'unknown' });
  });

  it('keys by Call-ID and CSeq: another CSeq of the same call is another 2xx', () => {
    const clock = new FakeClock();
    const { w, ended } = watch(clock);
    w.expect('call-1', 1, 'first');
    expect(w.confirm('call-1', 2)).toEqual({ kind: 'unknown' });
    clock.advance(2_000);
    expect(ended).toEqual(['first']);
  });

  it('is capped: past maxEntries the oldest held 2xx is ended at once', () => {
    const clock = new FakeClock();
    const { w, ended } = watch(clock, 2);
    w.expect('a', 1, 'a');
    w.expect('b', 1, 'b');
    w.expect('c', 1, 'c');
    expect(ended).toEqual(['a']);
    expect(w.size).toBe(2);
    expect(clock.pending).toBe(2);
  });

  it('drain hands back what is held without ending it through onMissing', () => {
    const clock = new FakeClock();
    const { w, ended } = watch(clock);
    w.expect('a', 1, 'a');
    expect(w.drain()).toEqual(['a']);
    clock.advance(5_000);
    expect(ended).toEqual([]);
    expect(clock.pending).toBe(0);
  });
});
