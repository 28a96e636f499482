import type { ConferenceInfo } from '@sip-pubsub/events';
import { describe, expect, it } from 'vitest';
import { formatRosterChange, rosterChanges } from './roster-changes.js';

const conf = 'sip:conf-abcdefghijklmnop@localhost';

function view(
  users: { entity: string; role: 'publisher' | 'subscriber' | 'both'; displayText?: string }[],
  version: number,
): ConferenceInfo {
  return {
    entity: conf,
    state: 'full',
    version,
    users: users.map((u) => ({ ...u, state: 'full', endpoints: [] })),
  };
}

describe('roster changes', () => {
  it('lists everyone as joined on the first view', () => {
    const changes = rosterChanges(
      undefined,
      view([{ entity: 'sip:alice@example.com', role: 'publisher', displayText: 'Alice' }], 1),
    );
    expect(changes).toEqual([
      { op: 'joined', entity: 'sip:alice@example.com', role: 'publisher', displayText: 'Alice' },
    ]);
    expect(changes.map(formatRosterChange)).toEqual(['+ sip:alice@example.com publisher "Alice"']);
  });

  it('finds joins, leaves and role changes between views', () => {
    const before = view(
      [
        { entity: 'sip:alice@example.com', role: 'publisher' },
        { entity: 'sip:bob@example.com', role: 'subscriber' },
      ],
      1,
    );
    const after = view(
      [
        { entity: 'sip:alice@example.com', role: 'both' },
        { entity: 'sip:carol@example.com', role: 'subscriber' },
      ],
      2,
    );
    expect(rosterChanges(before, after).map(formatRosterChange)).toEqual([
      '~ sip:alice@example.com both',
      '+ sip:carol@example.com subscriber',
      '- sip:bob@example.com',
    ]);
    expect(rosterChanges(after, after)).toEqual([]);
  });
});
