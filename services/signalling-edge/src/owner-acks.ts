// 2xx responses to dialog-creating INVITEs the edge sent for an owner (SendRequest with owner_acks) that
// wait for the owner's ACK (RFC 3261 §13.2.2.4: the UAC core acknowledges). The owner's ACK is the proof
// that the 2xx reached a replica that keeps the new dialog: a response handed to a gRPC call whose caller
// died before the edge read the reset reaches nobody. When no ACK comes within the bound, the edge ends
// the dialog itself (ACK, then BYE, §15). No I/O here: the caller passes the timer functions.

export interface OwnerAckTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const REAL_TIMERS: OwnerAckTimers = {
  set: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    handle.unref?.();
    return handle;
  },
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** What `confirm` found for an owner's ACK. */
export type OwnerAckLookup<T> =
  | { kind: 'pending'; value: T }
  /** The bound passed first: the edge acknowledged and ended the dialog itself. */
  | { kind: 'given-up' }
  /** No such 2xx was held here (another edge sent the INVITE, or this one restarted). */
  | { kind: 'unknown' };

const keyOf = (callId: string, cseq: number) => `${callId}\n${cseq}`;

/**
 * The 2xx responses that await their owner's ACK, by Call-ID and CSeq number. Each has a deadline
 * (`timeoutMs`); when it passes, `onMissing` gets the held value, and the key is remembered as given up
 * for `rememberMs` so a late ACK is told that its dialog was ended. Both maps are capped.
 */
export class OwnerAckWatch<T> {
  private readonly pending = new Map<string, { value: T; timer: unknown }>();
  private readonly givenUp = new Map<string, number>();

  constructor(
    private readonly opts: {
      timeoutMs: number;
      rememberMs: number;
      onMissing: (value: T) => void;
      timers?: OwnerAckTimers;
      now?: () => number;
      maxEntries?: number;
    },
  ) {}

  private get timers(): OwnerAckTimers {
    return this.opts.timers ?? REAL_TIMERS;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  get size(): number {
    return this.pending.size;
  }

  /** Holds `value` (the INVITE, its 2xx, where to send) until its owner's ACK or the deadline. */
  expect(callId: string, cseq: number, value: T): void {
    const key = keyOf(callId, cseq);
    const max = this.opts.maxEntries ?? 100_000;
    // A flood of answered INVITEs cannot grow the map without bound: the oldest is ended now.
    if (!this.pending.has(key) && this.pending.size >= max) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.expire(oldest);
    }
    const previous = this.pending.get(key);
    if (previous) this.timers.clear(previous.timer);
    const timer = this.timers.set(() => this.expire(key), this.opts.timeoutMs);
    this.pending.set(key, { value, timer });
  }

  /** The owner's ACK for (Call-ID, CSeq): the held 2xx, now released to it, or why there is none. */
  confirm(callId: string, cseq: number): OwnerAckLookup<T> {
    const key = keyOf(callId, cseq);
    const entry = this.pending.get(key);
    if (entry) {
      this.timers.clear(entry.timer);
      this.pending.delete(key);
      return { kind: 'pending', value: entry.value };
    }
    const at = this.givenUp.get(key);
    if (at !== undefined && this.now() - at < this.opts.rememberMs) return { kind: 'given-up' };
    return { kind: 'unknown' };
  }

  /** Every held 2xx, released without `onMissing` (the edge stops and ends them itself). */
  drain(): T[] {
    const values = [...this.pending.values()];
    for (const entry of values) this.timers.clear(entry.timer);
    this.pending.clear();
    return values.map((entry) => entry.value);
  }

  private expire(key: string): void {
    const entry = this.pending.get(key);
    if (!entry) return;
    this.timers.clear(entry.timer);
    this.pending.delete(key);
    this.rememberGivenUp(key);
    this.opts.onMissing(entry.value);
  }

  private rememberGivenUp(key: string): void {
    const now = this.now();
    const max = this.opts.maxEntries ?? 100_000;
    for (const [k, at] of this.givenUp) {
      if (now - at < this.opts.rememberMs && this.givenUp.size < max) break;
      this.givenUp.delete(k);
    }
    this.givenUp.set(key, now);
  }
}
