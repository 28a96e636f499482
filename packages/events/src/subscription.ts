// The notifier's side of one subscription (RFC 6665 §4.2.2), as plain JSON snapshots that the
// notifier stores in KV. Every transition returns a new snapshot; illegal moves throw.
import { SubscriptionStateError } from './errors.js';
import type { EventPackageName } from './event-packages.js';

export type SubscriptionStatus = 'pending' | 'active' | 'terminated';

/** Subscription-State reason codes (RFC 6665 §4.1.3). */
export type TerminationReason =
  | 'deactivated'
  | 'probation'
  | 'rejected'
  | 'timeout'
  | 'giveup'
  | 'noresource'
  | 'invariant';

export interface SubscriptionSnapshot {
  id: string;
  package: EventPackageName;
  /** The subscribed URI: a conference or the factory. */
  resource: string;
  status: SubscriptionStatus;
  /** Clock time (ms) at which the subscription lapses unless refreshed. */
  expiresAt: number;
  /** Version of the last document sent (0 before the first NOTIFY); RFC 4575 §5.1 numbers per subscription. */
  version: number;
  /** Clock time (ms) of the last NOTIFY. */
  lastNotifyAt?: number;
  reason?: TerminationReason;
}

export interface NewSubscription {
  id: string;
  package: EventPackageName;
  resource: string;
  /** Negotiated duration in seconds (see negotiateExpires). */
  expires: number;
  now: number;
  /** Start in 'pending' while authorisation is outstanding (RFC 6665 §4.2.1.3). */
  pending?: boolean;
}

export function createSubscription(init: NewSubscription): SubscriptionSnapshot {
  return {
    id: init.id,
    package: init.package,
    resource: init.resource,
    status: init.pending ? 'pending' : 'active',
    expiresAt: init.now + init.expires * 1000,
    version: 0,
  };
}

/** pending → active once the subscription is authorised. */
export function activateSubscription(s: SubscriptionSnapshot): SubscriptionSnapshot {
  if (s.status === 'terminated') throw new SubscriptionStateError(`subscription ${s.id} is terminated`);
  return { ...s, status: 'active' };
}

/** A refreshing SUBSCRIBE (RFC 6665 §4.2.1.2): Expires 0 ends the subscription with reason timeout. */
export function refreshSubscription(
  s: SubscriptionSnapshot,
  expires: number,
  now: number,
): SubscriptionSnapshot {
  if (s.status === 'terminated') throw new SubscriptionStateError(`subscription ${s.id} is terminated`);
  if (expires === 0) return terminateSubscription({ ...s, expiresAt: now }, 'timeout');
  return { ...s, expiresAt: now + expires * 1000 };
}

export function terminateSubscription(
  s: SubscriptionSnapshot,
  reason: TerminationReason,
): SubscriptionSnapshot {
  if (s.status === 'terminated')
    throw new SubscriptionStateError(`subscription ${s.id} is already terminated`);
  return { ...s, status: 'terminated', reason };
}

/** True once the subscription has lapsed without a refresh (RFC 6665 §4.2.2: notify with reason timeout). */
export function isSubscriptionExpired(s: SubscriptionSnapshot, now: number): boolean {
  return s.status !== 'terminated' && now >= s.expiresAt;
}

/**
 * Numbers the next NOTIFY: returns the version to put in its document and the snapshot that
 * records it. The final NOTIFY of a terminated subscription is numbered too.
 */
export function nextNotifyVersion(
  s: SubscriptionSnapshot,
  now: number,
): { version: number; snapshot: SubscriptionSnapshot } {
  const version = s.version + 1;
  return { version, snapshot: { ...s, version, lastNotifyAt: now } };
}

/**
 * The Subscription-State header value (RFC 6665 §4.1.3) for a NOTIFY sent at `now`:
 * `active;expires=<seconds left>`, `pending;expires=…`, or `terminated;reason=…`.
 * A subscription whose time has run out is reported as `terminated;reason=timeout`.
 */
export function subscriptionStateHeader(s: SubscriptionSnapshot, now: number): string {
  if (s.status === 'terminated') return s.reason ? `terminated;reason=${s.reason}` : 'terminated';
  // Rounded down so the subscriber never believes it has longer than it has.
  const remaining = Math.floor((s.expiresAt - now) / 1000);
  if (remaining <= 0) return 'terminated;reason=timeout';
  return `${s.status};expires=${remaining}`;
}
