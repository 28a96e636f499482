import { describe, expect, it } from 'vitest';
import { IdleDeadlines, type IdleObservation, idleSweepIntervalMs } from './idle-deadline.js';

const TTL = 10_000;
const empty = (over: Partial<IdleObservation> = {}): IdleObservation => ({
  createdAt: 1_000,
  participants: 0,
  watchers: 0,
  referrals: 0,
  ...over,
});

describe('IdleDeadlines (CONFERENCE_IDLE_TTL engine, fake clock)', () => {
  it('TTL off: nothing ever expires, whatever the conference looks like', () => {
    const d = new IdleDeadlines(0);
    expect(d.enabled).toBe(false);
    expect(d.assess('c', empty(), 10_000_000)).toEqual({ kind: 'off' });
    expect(d.remembered).toBe(0);
  });

  it('a conference never joined nor watched is due TTL after its creation', () => {
    const d = new IdleDeadlines(TTL);
    expect(d.assess('c', empty(), 5_000)).toEqual({ kind: 'idle', since: 1_000, deadline: 11_000 });
    expect(d.assess('c', empty(), 10_999).kind).toBe('idle');
    expect(d.assess('c', empty(), 11_000)).toEqual({ kind: 'expired', since: 1_000, deadline: 11_000 });
  });

  it('in use while a participant, a watcher or a referral is there', () => {
    const d = new IdleDeadlines(TTL);
    for (const over of [{ participants: 1 }, { watchers: 2 }, { referrals: 1 }])
      expect(d.assess('c', empty(over), 1_000_000).kind).toBe('in-use');
  });

  it('participant leaves: the idle time runs from the stored leave (activeAt)', () => {
    const d = new IdleDeadlines(TTL);
    expect(d.assess('c', empty({ participants: 1 }), 20_000).kind).toBe('in-use');
    const left = empty({ activeAt: 21_000 });
    expect(d.assess('c', left, 22_000)).toEqual({ kind: 'idle', since: 21_000, deadline: 31_000 });
    expect(d.assess('c', left, 30_999).kind).toBe('idle');
    expect(d.assess('c', left, 31_000).kind).toBe('expired');
  });

  it('watcher ends: the idle time runs from the watchers record leftAt', () => {
    const d = new IdleDeadlines(TTL);
    expect(d.assess('c', empty({ watchers: 1 }), 20_000).kind).toBe('in-use');
    const ended = empty({ watchersLeftAt: 24_000 });
    expect(d.assess('c', ended, 25_000)).toEqual({ kind: 'idle', since: 24_000, deadline: 34_000 });
    expect(d.assess('c', ended, 34_000).kind).toBe('expired');
  });

  it('both: the later of the participant leave and the watcher end counts', () => {
    const d = new IdleDeadlines(TTL);
    const both = empty({ activeAt: 30_000, watchersLeftAt: 26_000 });
    expect(d.assess('c', both, 31_000)).toEqual({ kind: 'idle', since: 30_000, deadline: 40_000 });
    const other = empty({ activeAt: 26_000, watchersLeftAt: 33_000 });
    expect(d.assess('c', other, 34_000)).toEqual({ kind: 'idle', since: 33_000, deadline: 43_000 });
  });

  it('re-join before the deadline resets it: in use, then due TTL after the new leave', () => {
    const d = new IdleDeadlines(TTL);
    expect(d.assess('c', empty({ activeAt: 2_000 }), 9_000).kind).toBe('idle');
    // Joined again before 12 000; the sweep at 11 500 sees it in use, not expired.
    expect(d.assess('c', empty({ activeAt: 2_000, participants: 1 }), 11_500).kind).toBe('in-use');
    expect(d.assess('c', empty({ activeAt: 14_000 }), 15_000)).toEqual({
      kind: 'idle',
      since: 14_000,
      deadline: 24_000,
    });
    expect(d.assess('c', empty({ activeAt: 14_000 }), 23_999).kind).toBe('idle');
    expect(d.assess('c', empty({ activeAt: 14_000 }), 24_000).kind).toBe('expired');
  });

  it('a visit between two sweeps (joined and left unseen) still resets it through its stamp', () => {
    const d = new IdleDeadlines(TTL);
    expect(d.assess('c', empty(), 5_000).kind).toBe('idle');
    // The participant came at 8 000 and left at 9 000; only the stored leave tells the next sweep.
    expect(d.assess('c', empty({ activeAt: 9_000 }), 11_000)).toEqual({
      kind: 'idle',
      since: 9_000,
      deadline: 19_000,
    });
  });

  it('a use that ended with no stamp recorded counts from the sweep that saw it end, and says so', () => {
    const d = new IdleDeadlines(TTL);
    expect(d.assess('c', empty({ watchers: 1 }), 50_000).kind).toBe('in-use');
    // The watcher went and its leftAt never reached KV (the notifier died): never early, so from now.
    expect(d.assess('c', empty(), 52_000)).toEqual({
      kind: 'idle',
      since: 52_000,
      deadline: 62_000,
      stamp: 52_000,
    });
    // Remembered without the stamp too (say the write failed), and not stamped twice.
    expect(d.assess('c', empty(), 61_999)).toEqual({ kind: 'idle', since: 52_000, deadline: 62_000 });
    expect(d.assess('c', empty(), 62_000).kind).toBe('expired');
  });

  it('a stored stamp newer than the last in-use sweep is taken as it is, with nothing to store', () => {
    const d = new IdleDeadlines(TTL);
    expect(d.assess('c', empty({ participants: 1 }), 50_000).kind).toBe('in-use');
    expect(d.assess('c', empty({ activeAt: 50_500 }), 51_000)).toEqual({
      kind: 'idle',
      since: 50_500,
      deadline: 60_500,
    });
  });

  it('forgets conferences it no longer owns, and each conference has its own deadline', () => {
    const d = new IdleDeadlines(TTL);
    d.assess('a', empty({ participants: 1 }), 50_000);
    d.assess('b', empty({ participants: 1 }), 50_000);
    expect(d.remembered).toBe(2);
    d.retain(new Set(['b']));
    expect(d.remembered).toBe(1);
    // `a` comes back to us: judged by its stored stamps only (no memory of the earlier use).
    expect(d.assess('a', empty(), 52_000)).toEqual({ kind: 'expired', since: 1_000, deadline: 11_000 });
    expect(d.assess('b', empty(), 52_000).kind).toBe('idle');
    expect(d.remembered).toBe(1);
    d.forget('b');
    expect(d.remembered).toBe(0);
  });

  it('refuses a negative TTL', () => {
    expect(() => new IdleDeadlines(-1)).toThrow(RangeError);
  });

  it('sweeps four times per TTL, within 250 ms and 30 s', () => {
    expect(idleSweepIntervalMs(1_000)).toBe(250);
    expect(idleSweepIntervalMs(2_000)).toBe(500);
    expect(idleSweepIntervalMs(60_000)).toBe(15_000);
    expect(idleSweepIntervalMs(3_600_000)).toBe(30_000);
  });
});
