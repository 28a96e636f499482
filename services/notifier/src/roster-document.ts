// Turns the participants of a conference (KV records written by the focus) into RFC 4575 documents.
import type { ConferenceInfo, ConferenceUser, MediaStatus } from '@sip-pubsub/events';
import type { ConferenceRecord, ParticipantRecord } from '@sip-pubsub/proto';

/** What a roster document shows of a participant: its record, or its roster index entry (proto `shown`). */
export type RosterEntry = Pick<
  ParticipantRecord,
  'legId' | 'role' | 'aor' | 'displayName' | 'contact' | 'joinedAt'
>;

const PUBLISHING = new Set(['publisher', 'both']);
const SUBSCRIBING = new Set(['subscriber', 'both']);

/**
 * A user is one AOR; each of its legs is an endpoint. Users are sent whole, so a partial document can
 * carry a user in state "full" with all its endpoints, or "deleted" when its last leg left.
 */
/** RFC 4575 §5.7.5 from the participant's side: the direction it takes, as it offered it. */
const OWN_DIRECTION: Record<ParticipantRecord['role'], MediaStatus> = {
  publisher: 'sendonly',
  subscriber: 'recvonly',
  both: 'sendrecv',
  inactive: 'inactive',
};

export function usersOf(
  participants: readonly RosterEntry[],
  /** leg id → the SSRC the leg's publisher sends with (learned from its first packet). */
  sources: ReadonlyMap<string, number> = new Map(),
): Map<string, ConferenceUser> {
  const users = new Map<string, ConferenceUser>();
  for (const p of [...participants].sort(
    (a, b) => a.joinedAt - b.joinedAt || a.legId.localeCompare(b.legId),
  )) {
    let user = users.get(p.aor);
    if (!user) {
      user = { entity: p.aor, displayText: p.displayName, state: 'full', role: p.role, endpoints: [] };
      users.set(p.aor, user);
    } else if (user.role !== p.role) {
      user.role = 'both';
    }
    const srcId = PUBLISHING.has(p.role) ? sources.get(p.legId) : undefined;
    user.endpoints.push({
      entity: p.contact,
      // §5.7.2: a participant whose media is inactive keeps its dialog but is on hold.
      status: p.role === 'inactive' ? 'on-hold' : 'connected',
      joiningMethod: 'dialed-in',
      media: [
        {
          id: p.legId,
          type: 'text',
          ...(srcId !== undefined ? { srcId } : {}),
          status: OWN_DIRECTION[p.role],
        },
      ],
    });
  }
  return users;
}

export function countsOf(participants: readonly Pick<ParticipantRecord, 'role'>[]): {
  publisherCount: number;
  subscriberCount: number;
} {
  return {
    publisherCount: participants.filter((p) => PUBLISHING.has(p.role)).length,
    subscriberCount: participants.filter((p) => SUBSCRIBING.has(p.role)).length,
  };
}

export function conferenceDocument(
  entity: string,
  conference: ConferenceRecord,
  participants: readonly RosterEntry[],
  version: number,
  onlyUsers?: ReadonlySet<string>,
  /** Users that are no participant of their own: PUBLISH sources (their endpoints join a participant's). */
  extraUsers: readonly ConferenceUser[] = [],
  /** leg id → SSRC of RTP publishers, for `<src-id>`. */
  sources: ReadonlyMap<string, number> = new Map(),
  /**
   * `onlyUsers` is the first part of full state too large for one NOTIFY (the rest follows as partial
   * documents): the document says "full" and leaves out users it does not have instead of deleting them.
   */
  firstPartOfFull = false,
): ConferenceInfo {
  const users = usersOf(participants, sources);
  for (const extra of extraUsers) {
    const user = users.get(extra.entity);
    if (user) user.endpoints.push(...extra.endpoints);
    else users.set(extra.entity, extra);
  }
  const listed: ConferenceUser[] = [];
  if (onlyUsers) {
    for (const aor of onlyUsers) {
      const user = users.get(aor);
      if (user) listed.push(user);
      else if (!firstPartOfFull) listed.push({ entity: aor, state: 'deleted', endpoints: [] });
    }
  } else {
    listed.push(...users.values());
  }
  return {
    entity,
    state: onlyUsers && !firstPartOfFull ? 'partial' : 'full',
    version,
    subject: conference.topic,
    ...(conference.maxUsers !== undefined ? { maximumUserCount: conference.maxUsers } : {}),
    userCount: participants.length,
    active: true,
    pubsub: {
      ...countsOf(participants),
      ...(conference.maxPublishers !== undefined
        ? { maximumUserCountPublisher: conference.maxPublishers }
        : {}),
      ...(conference.maxSubscribers !== undefined
        ? { maximumUserCountSubscriber: conference.maxSubscribers }
        : {}),
    },
    users: listed,
  };
}
