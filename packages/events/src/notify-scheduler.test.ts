import { describe, expect, it } from 'vitest';
import { NotifyScheduler, type SchedulerClock } from './notify-scheduler.js';

/** A clock whose time only moves when the test says so. */
class FakeClock implements SchedulerClock {
  time = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private nextId = 1;

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
    }
    this.time = end;
  }
}

function setup(minIntervalMs = 200) {
  const clock = new FakeClock();
  const sent: { id: string; changes: string[]; at: number }[] = [];
  const scheduler = new NotifyScheduler<string>({
    minIntervalMs,
    clock,
    send: (id, changes) => sent.push({ id, changes, at: clock.now() }),
  });
  return { clock, sent, scheduler };
}

describe('NotifyScheduler', () => {
  it('sends the first change at once', () => {
    const { sent, scheduler } = setup();
    scheduler.enqueue('s1', 'a');
    expect(sent).toEqual([{ id: 's1', changes: ['a'], at: 0 }]);
  });

  it('merges three changes inside the window into one send when it opens', () => {
    const { clock, sent, scheduler } = setup();
    scheduler.enqueue('s1', 'a');
    clock.advance(50);
    scheduler.enqueue('s1', 'b');
    clock.advance(50);
    scheduler.enqueue('s1', 'c');
    scheduler.enqueue('s1', 'd');
    expect(sent).toHaveLength(1);
    expect(scheduler.pending('s1')).toBe(3);
    clock.advance(99);
    expect(sent).toHaveLength(1);
    clock.advance(1);
    expect(sent).toEqual([
      { id: 's1', changes: ['a'], at: 0 },
      { id: 's1', changes: ['b', 'c', 'd'], at: 200 },
    ]);
    // The merged send starts a new window.
    scheduler.enqueue('s1', 'e');
    expect(sent).toHaveLength(2);
    clock.advance(200);
    expect(sent[2]).toEqual({ id: 's1', changes: ['e'], at: 400 });
  });

  it('sends at once again after a quiet window', () => {
    const { clock, sent, scheduler } = setup();
    scheduler.enqueue('s1', 'a');
    clock.advance(500);
    scheduler.enqueue('s1', 'b');
    expect(sent.map((s) => s.at)).toEqual([0, 500]);
  });

  it('keeps subscriptions apart', () => {
    const { sent, scheduler } = setup();
    scheduler.enqueue('s1', 'a');
    scheduler.enqueue('s2', 'b');
    scheduler.enqueue('s1', 'c');
    expect(sent.map((s) => [s.id, s.changes])).toEqual([
      ['s1', ['a']],
      ['s2', ['b']],
    ]);
  });

  it('cancel stops a pending send', () => {
    const { clock, sent, scheduler } = setup();
    scheduler.enqueue('s1', 'a');
    scheduler.enqueue('s1', 'b');
    scheduler.cancel('s1');
    expect(clock.pendingTimers).toBe(0);
    clock.advance(1000);
    expect(sent.map((s) => s.changes)).toEqual([['a']]);
    // A cancelled subscription id starts afresh.
    scheduler.enqueue('s1', 'c');
    expect(sent.map((s) => s.changes)).toEqual([['a'], ['c']]);
  });

  it('markSent starts the window at the NOTIFY sent outside', () => {
    const { clock, sent, scheduler } = setup();
    scheduler.markSent('s1');
    clock.advance(150);
    scheduler.enqueue('s1', 'a');
    expect(sent).toHaveLength(0);
    clock.advance(50);
    expect(sent).toEqual([{ id: 's1', changes: ['a'], at: 200 }]);
  });

  it('markSent pushes back changes already waiting', () => {
    const { clock, sent, scheduler } = setup();
    scheduler.enqueue('s1', 'a');
    clock.advance(100);
    scheduler.enqueue('s1', 'b');
    scheduler.markSent('s1');
    clock.advance(199);
    expect(sent).toHaveLength(1);
    clock.advance(1);
    expect(sent[1]).toEqual({ id: 's1', changes: ['b'], at: 300 });
  });

  it('close cancels everything and ignores later changes', () => {
    const { clock, sent, scheduler } = setup();
    scheduler.enqueue('s1', 'a');
    scheduler.enqueue('s1', 'b');
    scheduler.enqueue('s2', 'c');
    scheduler.enqueue('s2', 'd');
    scheduler.close();
    expect(clock.pendingTimers).toBe(0);
    scheduler.enqueue('s3', 'e');
    clock.advance(1000);
    expect(sent.map((s) => s.changes)).toEqual([['a'], ['c']]);
  });

  it('stays consistent when send enqueues for the same subscription', () => {
    const clock = new FakeClock();
    const sent: string[][] = [];
    const scheduler: NotifyScheduler<string> = new NotifyScheduler<string>({
      minIntervalMs: 100,
      clock,
      send: (id, changes) => {
        sent.push(changes);
        if (changes[0] === 'a') scheduler.enqueue(id, 'echo');
      },
    });
    scheduler.enqueue('s1', 'a');
    expect(sent).toEqual([['a']]);
    clock.advance(100);
    expect(sent).toEqual([['a'], ['echo']]);
  });
});
