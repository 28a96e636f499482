// The event state compositor's side of one publication (RFC 3903 §6): which operation a PUBLISH asks
// for, whether its SIP-If-Match names current state, and the snapshot each legal move produces. Plain JSON
// snapshots like subscription.ts, so the notifier can keep them in KV; illegal moves throw.
import { EventStateError } from './errors.js';

export type PublishOperation = 'initial' | 'refresh' | 'modify' | 'remove';

export type EventStateStatus = 'active' | 'removed';

export interface EventStateSnapshot {
  /** Stable name of the publication: the entity tag it was first given (refreshes change `etag`). */
  id: string;
  /** The one entity tag that currently names this state (RFC 3903 §6 step 8: each 2xx gives a new one). */
  etag: string;
  status: EventStateStatus;
  /** Clock time (ms) at which the state expires unless refreshed. */
  expiresAt: number;
  /** Number of modifications since the initial publication. */
  generation: number;
}

/** What the ESC needs to know of a PUBLISH after Expires negotiation. */
export interface PublishFacts {
  /** SIP-If-Match value, if any. */
  ifMatch: string | undefined;
  hasBody: boolean;
  /** Negotiated Expires in seconds (0 = remove). */
  expires: number;
}

export type PublishClassification =
  | { ok: true; operation: PublishOperation }
  | { ok: false; status: 400; reason: string };

/** RFC 3903 §4 table: the operation a PUBLISH performs, from SIP-If-Match, body and Expires. */
export function classifyPublish(facts: PublishFacts): PublishClassification {
  if (facts.ifMatch === undefined) {
    // §6 step 3: an initial publication must carry a body; removal needs the tag of what to remove.
    if (!facts.hasBody) return { ok: false, status: 400, reason: 'PUBLISH Without Body Or SIP-If-Match' };
    if (facts.expires === 0) return { ok: false, status: 400, reason: 'Expires 0 Without SIP-If-Match' };
    return { ok: true, operation: 'initial' };
  }
  if (facts.ifMatch.trim() === '') return { ok: false, status: 400, reason: 'Empty SIP-If-Match' };
  if (facts.expires === 0) return { ok: true, operation: 'remove' };
  return { ok: true, operation: facts.hasBody ? 'modify' : 'refresh' };
}

/**
 * §6 step 4: whether `ifMatch` names the current, unexpired state `s`. False (answer 412) for an unknown
 * tag, a tag a refresh or modification replaced, removed state, or state that timed out.
 */
export function matchesEventState(s: EventStateSnapshot | undefined, ifMatch: string, now: number): boolean {
  return s !== undefined && s.status === 'active' && s.etag === ifMatch.trim() && now < s.expiresAt;
}

export function isEventStateExpired(s: EventStateSnapshot, now: number): boolean {
  return s.status === 'active' && now >= s.expiresAt;
}

export function createEventState(etag: string, expires: number, now: number): EventStateSnapshot {
  if (!(expires > 0))
    throw new EventStateError(`initial publication needs a positive Expires, got ${expires}`);
  return { id: etag, etag, status: 'active', expiresAt: now + expires * 1000, generation: 0 };
}

/** §6 step 6: a refresh keeps the state, gives it a new tag and a new expiry. */
export function refreshEventState(
  s: EventStateSnapshot,
  newEtag: string,
  expires: number,
  now: number,
): EventStateSnapshot {
  assertLive(s, now, 'refresh');
  if (!(expires > 0)) throw new EventStateError(`refresh needs a positive Expires, got ${expires}`);
  if (newEtag === s.etag) throw new EventStateError('a refresh must give a new entity tag');
  return { ...s, etag: newEtag, expiresAt: now + expires * 1000 };
}

/** §6 step 7: a modification replaces the state and, like a refresh, gives a new tag and expiry. */
export function modifyEventState(
  s: EventStateSnapshot,
  newEtag: string,
  expires: number,
  now: number,
): EventStateSnapshot {
  return { ...refreshEventState(s, newEtag, expires, now), generation: s.generation + 1 };
}

/** §6 step 5: Expires 0 removes the state; its tag names nothing afterwards. */
export function removeEventState(s: EventStateSnapshot, now: number): EventStateSnapshot {
  assertLive(s, now, 'remove');
  return { ...s, status: 'removed', expiresAt: now };
}

/** The ESC's own timeout of state nobody refreshed (§6 "the event state expires"). */
export function expireEventState(s: EventStateSnapshot, now: number): EventStateSnapshot {
  if (s.status === 'removed') throw new EventStateError(`publication ${s.id} is already removed`);
  if (now < s.expiresAt) throw new EventStateError(`publication ${s.id} has not expired yet`);
  return { ...s, status: 'removed' };
}

function assertLive(s: EventStateSnapshot, now: number, what: string): void {
  if (s.status === 'removed') throw new EventStateError(`cannot ${what} removed publication ${s.id}`);
  if (now >= s.expiresAt) throw new EventStateError(`cannot ${what} expired publication ${s.id}`);
}

/**
 * Expiry times of the publications one replica owns, so it can time them out once each. No timers of
 * its own: the owner calls due() from its sweep with its clock.
 */
export class EventStateExpiries {
  private readonly at = new Map<string, number>();

  track(key: string, expiresAt: number): void {
    this.at.set(key, expiresAt);
  }

  forget(key: string): void {
    this.at.delete(key);
  }

  has(key: string): boolean {
    return this.at.has(key);
  }

  get size(): number {
    return this.at.size;
  }

  keys(): IterableIterator<string> {
    return this.at.keys();
  }

  /** Keys whose time is up at `now`, earliest first; they stay tracked until forgotten or re-tracked. */
  due(now: number): string[] {
    return [...this.at]
      .filter(([, expiresAt]) => expiresAt <= now)
      .sort((a, b) => a[1] - b[1])
      .map(([key]) => key);
  }
}
