import { describe, expect, it } from 'vitest';
import { isDataResourceKey } from './data-package.js';
import { OwnedSubscriptions } from './owned-subscriptions.js';

describe('OwnedSubscriptions', () => {
  it('counts the resources its predicate picks while they have subscriptions here', () => {
    const owned = new OwnedSubscriptions(undefined, isDataResourceKey);
    expect(owned.countedResources).toBe(0);
    owned.set('c1.a', 1);
    expect(owned.countedResources).toBe(0);
    owned.set('c1-data.a', 1);
    owned.set('c1-data.b', 1);
    owned.set('c1-data.a', 2); // a refresh
    owned.set('factory-data.w', 1);
    expect(owned.countedResources).toBe(2);
    expect(owned.keysOf('c1-data').sort()).toEqual(['c1-data.a', 'c1-data.b']);
    owned.delete('c1-data.a');
    expect(owned.countedResources).toBe(2);
    owned.delete('c1-data.b');
    owned.delete('c1.a');
    expect(owned.countedResources).toBe(1);
    owned.delete('factory-data.unknown');
    expect(owned.countedResources).toBe(1);
    owned.clear();
    expect(owned.countedResources).toBe(0);
  });
});
