import { describe, expect, it } from 'vitest';
import { routeRequest } from './routing.js';

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
