import { describe, expect, it } from 'vitest';
import { directoryChanges, formatDirectoryChange } from './directory-changes.js';

const conf = (id: string, topic: string, p: number, s: number) => ({
  entity: `sip:conf-${id}@localhost`,
  state: 'full' as const,
  topic,
  publisherCount: p,
  subscriberCount: s,
});

describe('directoryChanges', () => {
  it('lists every topic of the first view, sorted, then reports additions, count changes and removals', () => {
    const first = {
      entity: 'sip:factory@localhost',
      state: 'full' as const,
      version: 1,
      conferences: [conf('b', 'zeta', 0, 1), conf('a', 'alpha', 1, 0)],
    };
    expect(directoryChanges(undefined, first).map((c) => [c.change, c.topic])).toEqual([
      ['added', 'alpha'],
      ['added', 'zeta'],
    ]);
    const second = { ...first, version: 2, conferences: [conf('a', 'alpha', 1, 2), conf('c', 'new', 0, 0)] };
    expect(directoryChanges(first, second).map((c) => [c.change, c.topic])).toEqual([
      ['counts', 'alpha'],
      ['added', 'new'],
      ['removed', 'zeta'],
    ]);
  });

  it('formats a listing line and a watch line', () => {
    const added = {
      change: 'added' as const,
      topic: 'plant/7',
      conference: 'sip:conf-a@localhost',
      publishers: 1,
      subscribers: 2,
    };
    expect(formatDirectoryChange(added, true)).toBe(
      'plant/7  sip:conf-a@localhost  1 publisher, 2 subscribers',
    );
    expect(formatDirectoryChange({ ...added, change: 'removed' }, false)).toBe(
      '- plant/7  sip:conf-a@localhost',
    );
  });
});
