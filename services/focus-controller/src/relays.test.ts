import { describe, expect, it } from 'vitest';
import { placementOrder, RelayLoadView, relaysFor } from './relays.js';

describe('relay placement (DESIGN "Media sharding")', () => {
  it('k = 1 until the conference passes the threshold, then one more relay per threshold', () => {
    expect([0, 9, 10, 19, 20, 1000].map((legs) => relaysFor(legs, 10, 3))).toEqual([1, 1, 2, 2, 3, 3]);
  });

  it('places on the top of the ranking, then on the least loaded of the top k', () => {
    const legs = new Map([
      ['r1', 0],
      ['r2', 0],
      ['r3', 0],
    ]);
    const order = () => placementOrder(['r2', 'r1', 'r3'], (id) => legs.get(id)!, 2);
    expect(order()[0]).toBe('r2');
    legs.set('r2', 1);
    expect(order()[0]).toBe('r2');
    legs.set('r2', 2); // k = 2: r1 is in the top 2 and emptier
    expect(order()).toEqual(['r1', 'r2', 'r3']);
  });

  it('counts legs from fresh load reports plus placements made since the last report', () => {
    let now = 10_000;
    const view = new RelayLoadView(() => now);
    view.onReport({
      relayId: 'r1',
      at: now,
      intervalMs: 1000,
      legs: 3,
      conferences: [{ conferenceId: 'c', legs: 3, publisherLegs: 1, subscriberLegs: 2, packetsPerSecond: 5 }],
    });
    view.notePlacement('r1', 'c');
    expect(view.legsOn('r1', 'c')).toBe(4);
    view.onReport({
      relayId: 'r1',
      at: now,
      intervalMs: 1000,
      legs: 4,
      conferences: [{ conferenceId: 'c', legs: 4, publisherLegs: 1, subscriberLegs: 3, packetsPerSecond: 5 }],
    });
    expect(view.legsOn('r1', 'c')).toBe(4);
    now += 3_001;
    expect(view.legsOn('r1', 'c')).toBe(0); // stale
  });
});
