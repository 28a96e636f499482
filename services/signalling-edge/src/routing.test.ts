import { rendezvousRank } from '@sip-pubsub/platform';
import { describe, expect, it } from 'vitest';
import { isOwnerUnavailable, routeCandidates, routeRequest } from './routing.js';

describe('routeRequest', () => {
  it('sends dialog methods to the focus and event methods to the notifier, keyed by conference', () => {
    expect(routeRequest('INVITE', 'sip:factory@example.com')).toEqual({
      kind: 'owner',
      service: 'focus-controller',
      key: 'factory',
    });
    expect(routeRequest('BYE', 'sip:conf-abcdefghijklmnop@example.com')).toEqual({
      kind: 'owner',
      service: 'focus-controller',
      key: 'abcdefghijklmnop',
    });
    expect(routeRequest('SUBSCRIBE', 'sip:conf-abcdefghijklmnop@x')).toEqual({
      kind: 'owner',
      service: 'notifier',
      key: 'abcdefghijklmnop',
    });
    expect(routeRequest('OPTIONS', 'sip:bob@x')).toEqual({
      kind: 'owner',
      service: 'focus-controller',
      key: 'user:bob',
    });
  });

  it('rejects methods nobody here serves', () => {
    expect(routeRequest('MESSAGE', 'sip:factory@x')).toEqual({
      kind: 'reject',
      status: 405,
      reason: 'Method Not Allowed',
    });
    expect(routeRequest('NOTIFY', 'sip:factory@x')).toMatchObject({ status: 481 });
  });
});

describe('routeCandidates', () => {
  const m = (id: string) => ({ id, service: 'focus-controller', address: `${id}:1`, meta: {} });
  const members = ['f0', 'f1', 'f2'].map(m);

  it('keeps the rendezvous ranking when every channel is ready', () => {
    const ranked = rendezvousRank('conf-x', ['f0', 'f1', 'f2']);
    expect(routeCandidates('conf-x', members, () => 'ready').map((c) => c.id)).toEqual(ranked);
  });

  it('puts replicas whose channel is not ready after the ready ones, each group in ranking order', () => {
    const ranked = rendezvousRank('conf-x', ['f0', 'f1', 'f2']);
    const [owner] = ranked;
    const got = routeCandidates('conf-x', members, (c) => (c.id === owner ? 'connecting' : 'ready'));
    expect(got.map((c) => c.id)).toEqual([...ranked.slice(1), owner]);
  });

  it('treats UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED as an owner that could not serve', () => {
    expect([14, 4, 1].map((code) => isOwnerUnavailable({ code }))).toEqual([true, true, true]);
    expect([13, 3, 5].map((code) => isOwnerUnavailable({ code }))).toEqual([false, false, false]);
    expect(isOwnerUnavailable(new Error('x'))).toBe(false);
  });
});
