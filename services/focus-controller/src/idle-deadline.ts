// The idle-expiry engine of CONFERENCE_IDLE_TTL (PROFILE "Creating and joining"): from what a sweep saw
// of one conference it says whether the conference is in use, idle until some deadline, or idle past it.
// No I/O and no clock of its own: the sweeper (idle-sweeper.ts) gives it each observation and the time.

/** What one sweep read about a conference. */
export interface IdleObservation {
  /** The conference record's `created`. */
  createdAt: number;
  /** The conference record's `activeAt` (the focus saw a participant leave then). */
  activeAt?: number;
  /** The watchers record's `leftAt` (the notifier saw a watcher end then). */
  watchersLeftAt?: number;
  /** Legs in the roster index (reserved or stored). */
  participants: number;
  /** Live `conference` / `pubsub-data` subscriptions. */
  watchers: number;
  /** Unfinished REFERs (their implicit subscriptions are still in progress). */
  referrals: number;
}

export type IdleVerdict =
  /** CONFERENCE_IDLE_TTL is off: nothing expires. */
  | { kind: 'off' }
  /** A participant, watcher or referral is there now. */
  | { kind: 'in-use' }
  /**
   * Idle since `since`, removable from `deadline`. `stamp`, when present, is a time to store as the
   * conference's `activeAt`: the sweep saw it in use before and no stored stamp records the end of that.
   */
  | { kind: 'idle'; since: number; deadline: number; stamp?: number }
  | { kind: 'expired'; since: number; deadline: number; stamp?: number };

export class IdleDeadlines {
  /** Conferences the previous sweep saw in use, with when. */
  private readonly inUseAt = new Map<string, number>();
  /** Lower bounds of idle start learned by this replica (a use that ended without a stored stamp). */
  private readonly floors = new Map<string, number>();

  /** `ttlMs` 0 turns expiry off. */
  constructor(readonly ttlMs: number) {
    if (!Number.isFinite(ttlMs) || ttlMs < 0) throw new RangeError(`idle TTL must be ≥ 0, got ${ttlMs}`);
  }

  get enabled(): boolean {
    return this.ttlMs > 0;
  }

  /** What `seen` at `now` means for conference `id`; remembers enough to judge the next sweep. */
  assess(id: string, seen: IdleObservation, now: number): IdleVerdict {
    if (!this.enabled) return { kind: 'off' };
    if (seen.participants > 0 || seen.watchers > 0 || seen.referrals > 0) {
      this.inUseAt.set(id, now);
      this.floors.delete(id);
      return { kind: 'in-use' };
    }
    const stamped = Math.max(seen.createdAt, seen.activeAt ?? 0, seen.watchersLeftAt ?? 0);
    let since = Math.max(stamped, this.floors.get(id) ?? 0);
    let stamp: number | undefined;
    const usedAt = this.inUseAt.get(id);
    if (usedAt !== undefined) {
      this.inUseAt.delete(id);
      // In use at the last sweep, idle now, and no stamp after that: it ended in between, so from now on
      // is the safe count (never early); it is stored so another replica counts from here too.
      if (stamped < usedAt && now > since) {
        since = now;
        stamp = now;
        this.floors.set(id, now);
      }
    }
    const deadline = since + this.ttlMs;
    const verdict = now >= deadline ? ('expired' as const) : ('idle' as const);
    return stamp === undefined
      ? { kind: verdict, since, deadline }
      : { kind: verdict, since, deadline, stamp };
  }

  /** The conference is gone or no longer ours: nothing is kept about it. */
  forget(id: string): void {
    this.inUseAt.delete(id);
    this.floors.delete(id);
  }

  /** Forgets every conference not in `kept` (those a sweep no longer owns). */
  retain(kept: ReadonlySet<string>): void {
    for (const id of this.inUseAt.keys()) if (!kept.has(id)) this.inUseAt.delete(id);
    for (const id of this.floors.keys()) if (!kept.has(id)) this.floors.delete(id);
  }

  /** Conferences this engine remembers something about (for tests and metrics). */
  get remembered(): number {
    return new Set([...this.inUseAt.keys(), ...this.floors.keys()]).size;
  }
}

/** How often a focus replica sweeps for idle conferences: a quarter of the TTL, within 250 ms–30 s. */
export function idleSweepIntervalMs(ttlMs: number): number {
  return Math.min(30_000, Math.max(250, Math.floor(ttlMs / 4)));
}
