// What changed in a topic's roster between two views of the conference package (RFC 4575), as the
// `watch` command prints it.
import type { ConferenceInfo, ConferenceUser } from '@sip-pubsub/events';

export type RosterChange =
  | { op: 'joined'; entity: string; role?: string; displayText?: string }
  | { op: 'left'; entity: string }
  | { op: 'changed'; entity: string; role?: string; displayText?: string };

/** Users added, removed or with a new role from `before` (undefined: nobody) to `after`. */
export function rosterChanges(before: ConferenceInfo | undefined, after: ConferenceInfo): RosterChange[] {
  const old = new Map((before?.users ?? []).map((u) => [u.entity, u] as const));
  const now = new Map(after.users.filter((u) => u.state !== 'deleted').map((u) => [u.entity, u] as const));
  const changes: RosterChange[] = [];
  for (const [entity, user] of now) {
    const previous = old.get(entity);
    if (!previous) changes.push(withDetails({ op: 'joined', entity }, user));
    else if (previous.role !== user.role) changes.push(withDetails({ op: 'changed', entity }, user));
  }
  for (const entity of old.keys()) if (!now.has(entity)) changes.push({ op: 'left', entity });
  return changes;
}

function withDetails<
  T extends { op: 'joined' | 'changed'; entity: string; role?: string; displayText?: string },
>(change: T, user: ConferenceUser): T {
  if (user.role !== undefined) change.role = user.role;
  if (user.displayText !== undefined) change.displayText = user.displayText;
  return change;
}

/** `+ sip:alice@example.com publisher "Alice"`, `- sip:alice@example.com`, `~ sip:alice@example.com both`. */
export function formatRosterChange(change: RosterChange): string {
  const name = 'displayText' in change && change.displayText ? ` ${JSON.stringify(change.displayText)}` : '';
  switch (change.op) {
    case 'joined':
      return `+ ${change.entity}${change.role ? ` ${change.role}` : ''}${name}`;
    case 'changed':
      return `~ ${change.entity}${change.role ? ` ${change.role}` : ''}${name}`;
    case 'left':
      return `- ${change.entity}`;
  }
}
