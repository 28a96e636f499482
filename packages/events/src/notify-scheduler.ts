// NOTIFY rate limiting per subscription (RFC 6665 §4.2.2 allows throttling; PROFILE.md
// NOTIFY_MIN_INTERVAL_MS): at most one NOTIFY per window, changes inside a window are merged.

export interface SchedulerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface NotifySchedulerOptions<Change> {
  minIntervalMs: number;
  clock: SchedulerClock;
  send: (subscriptionId: string, changes: Change[]) => void;
}

interface Window<Change> {
  lastSentAt?: number;
  queued: Change[];
  timer?: unknown;
}

export class NotifyScheduler<Change> {
  private readonly windows = new Map<string, Window<Change>>();
  private closed = false;

  constructor(private readonly opts: NotifySchedulerOptions<Change>) {
    if (!(opts.minIntervalMs >= 0)) throw new RangeError('minIntervalMs must be a non-negative number');
  }

  /**
   * Queues a change. `send` runs at once if the window is open, otherwise once when it opens,
   * with every change queued meanwhile in arrival order. Ignored after close().
   */
  enqueue(subscriptionId: string, change: Change): void {
    if (this.closed) return;
    const window = this.windowOf(subscriptionId);
    window.queued.push(change);
    if (window.timer !== undefined) return;
    const wait = this.waitFor(window);
    if (wait <= 0) this.flush(subscriptionId, window);
    else this.arm(subscriptionId, window, wait);
  }

  /**
   * Records a NOTIFY sent outside the scheduler (e.g. the initial full-state one): the window
   * restarts now, and changes already queued go out when it next opens.
   */
  markSent(subscriptionId: string): void {
    if (this.closed) return;
    const window = this.windowOf(subscriptionId);
    window.lastSentAt = this.opts.clock.now();
    if (window.timer !== undefined) {
      this.opts.clock.clearTimeout(window.timer);
      window.timer = undefined;
      this.arm(subscriptionId, window, this.opts.minIntervalMs);
    }
  }

  /** Drops the subscription's queued changes and forgets it; call when the subscription ends. */
  cancel(subscriptionId: string): void {
    const window = this.windows.get(subscriptionId);
    if (!window) return;
    if (window.timer !== undefined) this.opts.clock.clearTimeout(window.timer);
    this.windows.delete(subscriptionId);
  }

  /** Number of changes waiting for the subscription's window to open. */
  pending(subscriptionId: string): number {
    return this.windows.get(subscriptionId)?.queued.length ?? 0;
  }

  /** Cancels every pending send; the scheduler does nothing afterwards. */
  close(): void {
    this.closed = true;
    for (const id of [...this.windows.keys()]) this.cancel(id);
  }

  private windowOf(subscriptionId: string): Window<Change> {
    let window = this.windows.get(subscriptionId);
    if (!window) {
      window = { queued: [] };
      this.windows.set(subscriptionId, window);
    }
    return window;
  }

  private waitFor(window: Window<Change>): number {
    if (window.lastSentAt === undefined) return 0;
    return window.lastSentAt + this.opts.minIntervalMs - this.opts.clock.now();
  }

  private arm(subscriptionId: string, window: Window<Change>, ms: number): void {
    window.timer = this.opts.clock.setTimeout(() => {
      window.timer = undefined;
      // The subscription may have been cancelled and re-created while the timer was pending.
      if (this.windows.get(subscriptionId) !== window || window.queued.length === 0) return;
      this.flush(subscriptionId, window);
    }, ms);
  }

  private flush(subscriptionId: string, window: Window<Change>): void {
    const changes = window.queued;
    // State first, so a send that enqueues again (or throws) leaves the window consistent.
    window.queued = [];
    window.lastSentAt = this.opts.clock.now();
    this.opts.send(subscriptionId, changes);
  }
}
