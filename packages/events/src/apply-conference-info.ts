// A watcher's view of a conference, kept coherent from full and partial notifications (RFC 4575 §4.6).
import type {
  ConferenceEndpoint,
  ConferenceInfo,
  ConferenceMedia,
  ConferenceUser,
} from './conference-info.js';
import { EventDocumentError, VersionGapError } from './errors.js';

/**
 * Applies a notification to the current view and returns the new view (a fresh object, always
 * state 'full'); `current` is not modified. A full document replaces the view; a deleted one empties
 * it; a partial one must be numbered previous+1 and is merged by entity (users, endpoints) and id (media).
 * Throws VersionGapError (an EventDocumentError, message 'version gap') when a partial document
 * does not follow on; the watcher should then refresh its subscription to get full state.
 */
export function applyConferenceInfo(
  current: ConferenceInfo | undefined,
  update: ConferenceInfo,
): ConferenceInfo {
  if (update.state === 'full') {
    const view = structuredClone(update);
    view.users = view.users.filter((user) => user.state !== 'deleted');
    return view;
  }
  if (update.state === 'deleted') {
    return { entity: update.entity, state: 'deleted', version: update.version, users: [] };
  }
  if (current === undefined) throw new VersionGapError(undefined, update.version);
  if (update.version !== current.version + 1) throw new VersionGapError(current.version + 1, update.version);
  if (update.entity !== current.entity) {
    throw new EventDocumentError(`partial document for ${update.entity} applied to ${current.entity}`);
  }

  const next = structuredClone(current);
  next.version = update.version;
  if (update.subject !== undefined) next.subject = update.subject;
  if (update.maximumUserCount !== undefined) next.maximumUserCount = update.maximumUserCount;
  if (update.userCount !== undefined) next.userCount = update.userCount;
  if (update.active !== undefined) next.active = update.active;
  if (update.pubsub !== undefined) {
    const pubsub = { ...next.pubsub };
    for (const [key, value] of Object.entries(update.pubsub)) {
      if (value !== undefined) pubsub[key as keyof typeof pubsub] = value;
    }
    next.pubsub = pubsub;
  }
  next.users = mergeKeyed(next.users, update.users, (u) => u.entity, mergeUser);
  return next;
}

function mergeUser(existing: ConferenceUser | undefined, change: ConferenceUser): ConferenceUser | undefined {
  if (change.state === 'deleted') return undefined;
  if (existing === undefined || change.state === 'full') return { ...structuredClone(change), state: 'full' };
  const user: ConferenceUser = { ...existing };
  if (change.displayText !== undefined) user.displayText = change.displayText;
  if (change.role !== undefined) user.role = change.role;
  user.endpoints = mergeKeyed(existing.endpoints, change.endpoints, (e) => e.entity, mergeEndpoint);
  return user;
}

function mergeEndpoint(
  existing: ConferenceEndpoint | undefined,
  change: ConferenceEndpoint,
): ConferenceEndpoint | undefined {
  if (change.state === 'deleted') return undefined;
  // RFC 4575 §5.7: an endpoint without a state attribute is full.
  if (existing === undefined || change.state !== 'partial') return withoutState(structuredClone(change));
  const endpoint: ConferenceEndpoint = { ...existing, status: change.status };
  if (change.joiningMethod !== undefined) endpoint.joiningMethod = change.joiningMethod;
  endpoint.media = mergeKeyed(
    existing.media,
    change.media,
    (m) => m.id,
    (_old, m): ConferenceMedia => ({ ...m }),
  );
  return endpoint;
}

function withoutState(endpoint: ConferenceEndpoint): ConferenceEndpoint {
  const { state: _state, ...rest } = endpoint;
  return rest;
}

/** Replaces, adds (at the end) or removes (merge returns undefined) items by key, keeping order. */
function mergeKeyed<T>(
  items: T[],
  changes: T[],
  key: (item: T) => string,
  merge: (existing: T | undefined, change: T) => T | undefined,
): T[] {
  const byKey = new Map(items.map((item) => [key(item), item] as const));
  for (const change of changes) {
    const k = key(change);
    const merged = merge(byKey.get(k), change);
    if (merged === undefined) byKey.delete(k);
    else byKey.set(k, merged);
  }
  return [...byKey.values()];
}
