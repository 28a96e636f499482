import { describe, expect, it } from 'vitest';
import { SubscriptionStateError } from './errors.js';
import {
  activateSubscription,
  createSubscription,
  isSubscriptionExpired,
  nextNotifyVersion,
  refreshSubscription,
  type SubscriptionSnapshot,
  subscriptionStateHeader,
  terminateSubscription,
} from './subscription.js';

const t0 = 1_700_000_000_000;

function subscription(overrides: Partial<SubscriptionSnapshot> = {}): SubscriptionSnapshot {
  return {
    id: 's1',
    package: 'conference',
    resource: 'sip:conf-abcdefghijklmnop@example.com',
    status: 'active',
    expiresAt: t0 + 3600_000,
    version: 0,
    ...overrides,
  };
}

describe('subscriptionStateHeader', () => {
  it('reports the seconds left of an active or pending subscription, rounded down', () => {
    expect(subscriptionStateHeader(subscription(), t0)).toBe('active;expires=3600');
    expect(subscriptionStateHeader(subscription(), t0 + 1)).toBe('active;expires=3599');
    expect(subscriptionStateHeader(subscription({ status: 'pending' }), t0 + 600_000)).toBe(
      'pending;expires=3000',
    );
  });

  it('reports a terminated subscription with its reason', () => {
    expect(subscriptionStateHeader(subscription({ status: 'terminated', reason: 'timeout' }), t0)).toBe(
      'terminated;reason=timeout',
    );
    expect(subscriptionStateHeader(subscription({ status: 'terminated', reason: 'deactivated' }), t0)).toBe(
      'terminated;reason=deactivated',
    );
    expect(subscriptionStateHeader(subscription({ status: 'terminated' }), t0)).toBe('terminated');
  });

  it('reports a subscription whose time has run out as timed out', () => {
    expect(subscriptionStateHeader(subscription(), t0 + 3600_000)).toBe('terminated;reason=timeout');
    expect(subscriptionStateHeader(subscription(), t0 + 3599_500)).toBe('terminated;reason=timeout');
  });
});

describe('subscription state machine', () => {
  it('creates, activates, refreshes and numbers notifications', () => {
    let s = createSubscription({
      id: 's1',
      package: 'conference',
      resource: 'sip:conf-x@e',
      expires: 60,
      now: t0,
      pending: true,
    });
    expect(s).toEqual({
      id: 's1',
      package: 'conference',
      resource: 'sip:conf-x@e',
      status: 'pending',
      expiresAt: t0 + 60_000,
      version: 0,
    });
    s = activateSubscription(s);
    expect(s.status).toBe('active');
    const first = nextNotifyVersion(s, t0 + 5);
    expect(first.version).toBe(1);
    expect(first.snapshot).toMatchObject({ version: 1, lastNotifyAt: t0 + 5 });
    expect(nextNotifyVersion(first.snapshot, t0 + 10).version).toBe(2);
    s = refreshSubscription(first.snapshot, 120, t0 + 30_000);
    expect(s.expiresAt).toBe(t0 + 150_000);
    expect(isSubscriptionExpired(s, t0 + 149_999)).toBe(false);
    expect(isSubscriptionExpired(s, t0 + 150_000)).toBe(true);
  });

  it('ends with reason timeout on a refresh with Expires 0', () => {
    const s = refreshSubscription(subscription(), 0, t0 + 1000);
    expect(s).toMatchObject({ status: 'terminated', reason: 'timeout', expiresAt: t0 + 1000 });
    expect(subscriptionStateHeader(s, t0 + 1000)).toBe('terminated;reason=timeout');
    expect(isSubscriptionExpired(s, t0 + 10_000_000)).toBe(false);
  });

  it('refuses to revive or re-terminate a terminated subscription', () => {
    const ended = terminateSubscription(subscription(), 'noresource');
    expect(() => activateSubscription(ended)).toThrow(SubscriptionStateError);
    expect(() => refreshSubscription(ended, 60, t0)).toThrow(SubscriptionStateError);
    expect(() => terminateSubscription(ended, 'timeout')).toThrow(SubscriptionStateError);
    // The final NOTIFY still gets the next version.
    expect(nextNotifyVersion({ ...ended, version: 4 }, t0).version).toBe(5);
  });

  it('keeps snapshots plain JSON', () => {
    const s = nextNotifyVersion(subscription(), t0).snapshot;
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });
});
