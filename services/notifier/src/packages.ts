// The event packages the notifier serves, each as: which resource a request URI names, and the
// document (full, or partial for a set of changed items) describing it (PROFILE.md "Events").
import {
  buildConferenceInfo,
  buildDirectoryInfo,
  CONFERENCE_INFO_CONTENT_TYPE,
  type ConferenceUser,
  classifyUri,
  conferenceUri,
  DIRECTORY_CONTENT_TYPE,
  type DirectoryEntry,
  type EventPackageName,
  factoryUri,
} from '@sip-pubsub/events';
import type { JsonBucket } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  directoryIdsOf,
  directoryShardKeys,
  type IndexRecord,
  type ParticipantRecord,
  participantKey,
  rosterIndexKey,
  type SubscriptionRecord,
} from '@sip-pubsub/proto';
import type { SipRequest } from '@sip-pubsub/sip';
import { conferenceDocument, countsOf, type RosterEntry, usersOf } from './roster-document.js';

export type Resolved =
  | {
      ok: true;
      key: string;
      entity: string /** A wildcard topic filter the subscription keeps. */;
      filter?: string;
    }
  | { ok: false; status: number; reason: string };

export interface PackageStores {
  conferences: JsonBucket<ConferenceRecord>;
  participants: JsonBucket<ParticipantRecord>;
  indexes: JsonBucket<IndexRecord>;
}

export interface PackageHandler {
  readonly name: EventPackageName;
  readonly contentType: string;
  resolve(requestUri: string, req?: SipRequest): Promise<Resolved>;
  /**
   * The document at `version`: full state, or only `changed` items. Null when the resource is gone.
   * `mayWatch` says which topics the watcher may see (the directory leaves out the others).
   */
  document(
    key: string,
    entity: string,
    version: number,
    changed?: ReadonlySet<string>,
    mayWatch?: (topic: string) => boolean,
    /** The subscription the document is for (its filter and identity, for wildcard watching). */
    subscription?: SubscriptionRecord,
    /** Full state of only these items (see `items`): the first part of state too large for one NOTIFY. */
    firstPart?: ReadonlySet<string>,
  ): Promise<string | null>;
  /**
   * Every item of the full state (the keys `changed` holds: participant AORs, conference ids), in the
   * order parts take them. A package that lists them can send state larger than one NOTIFY may carry:
   * the first NOTIFY holds what fits, the rest follows in partial NOTIFYs.
   */
  items?(
    key: string,
    mayWatch?: (topic: string) => boolean,
    subscription?: SubscriptionRecord,
  ): Promise<string[]>;
  /**
   * Listing the items costs far less than building the whole document (the directory: its index shards,
   * against two reads per topic), so full state is listed first and only the part that fits is built.
   */
  readonly listsItemsFirst?: boolean;
}

async function rosterIndexOf(stores: PackageStores, conferenceId: string): Promise<IndexRecord['members']> {
  return (await stores.indexes.get(rosterIndexKey(conferenceId)))?.value.members ?? {};
}

/**
 * The participants named by the conference's roster index, as their entries show them: one read for the
 * whole roster. An entry that does not show its participant yet (a leg being set up, or an entry older
 * than `shown`) costs a get of its record; a leg gone meanwhile is skipped.
 */
async function rosterOf(stores: PackageStores, conferenceId: string): Promise<RosterEntry[]> {
  const members = await rosterIndexOf(stores, conferenceId);
  const entries = await Promise.all(
    Object.keys(members)
      .sort()
      .map(async (legId): Promise<RosterEntry | null> => {
        const { role, shown } = members[legId];
        if (role && shown) return { legId, role, ...shown };
        return (await stores.participants.get(participantKey(conferenceId, legId)))?.value ?? null;
      }),
  );
  return entries.filter((e): e is RosterEntry => e !== null);
}

/** Publisher and subscriber counts from the roster index alone, without reading each participant. */
async function countsFromIndex(
  stores: PackageStores,
  conferenceId: string,
): Promise<{ publisherCount: number; subscriberCount: number }> {
  const roles = Object.values(await rosterIndexOf(stores, conferenceId)).map((m) => ({
    role: m.role ?? ('inactive' as const),
  }));
  return countsOf(roles);
}

/** Every conference id, from the directory index shards. */
async function conferenceIds(stores: PackageStores): Promise<string[]> {
  const shards = await Promise.all(directoryShardKeys().map((key) => stores.indexes.get(key)));
  return directoryIdsOf(shards);
}

/** RFC 4575 roster of one conference; changes are participant AORs. */
export function conferencePackage(
  stores: PackageStores,
  domain: string,
  /** Users the roster shows besides participants (PUBLISH sources). */
  extraUsers?: (conferenceId: string) => Promise<ConferenceUser[]>,
  /** leg id → SSRC of the conference's RTP publishers, for `<src-id>`. */
  rtpSources?: (conferenceId: string) => Promise<ReadonlyMap<string, number>>,
): PackageHandler {
  return {
    name: 'conference',
    contentType: CONFERENCE_INFO_CONTENT_TYPE,
    async resolve(requestUri) {
      const target = classifyUri(requestUri);
      if (target.kind !== 'conference') return { ok: false, status: 404, reason: 'Not Found' };
      if (!(await stores.conferences.get(target.conferenceId)))
        return { ok: false, status: 404, reason: 'Conference Not Found' };
      return { ok: true, key: target.conferenceId, entity: conferenceUri(target.conferenceId, domain) };
    },
    async document(key, entity, version, changed, _mayWatch, _subscription, firstPart) {
      const conference = await stores.conferences.get(key);
      if (!conference) return null;
      const participants = await rosterOf(stores, key);
      const [extra, sources] = await Promise.all([
        extraUsers ? extraUsers(key) : [],
        rtpSources ? rtpSources(key) : new Map<string, number>(),
      ]);
      const only = changed ?? firstPart;
      return buildConferenceInfo(
        conferenceDocument(entity, conference.value, participants, version, only, extra, sources, !changed),
      );
    },
    async items(key) {
      const [participants, extra] = await Promise.all([
        rosterOf(stores, key),
        extraUsers ? extraUsers(key) : [],
      ]);
      return [...new Set([...usersOf(participants).keys(), ...extra.map((u) => u.entity)])];
    },
  };
}

/** The topic directory under the factory URI; changes are conference ids. */
export function directoryPackage(stores: PackageStores, domain: string): PackageHandler {
  const entry = async (conferenceId: string): Promise<DirectoryEntry> => {
    const uri = conferenceUri(conferenceId, domain);
    const conference = await stores.conferences.get(conferenceId);
    if (!conference) return { entity: uri, state: 'deleted', topic: '' };
    return {
      entity: uri,
      state: 'full',
      topic: conference.value.topic,
      ...(await countsFromIndex(stores, conferenceId)),
    };
  };
  return {
    name: 'pubsub-conferences',
    contentType: DIRECTORY_CONTENT_TYPE,
    async resolve(requestUri) {
      if (classifyUri(requestUri).kind !== 'factory') return { ok: false, status: 404, reason: 'Not Found' };
      return { ok: true, key: 'factory', entity: factoryUri(domain) };
    },
    async document(_key, entity, version, changed, mayWatch, _subscription, firstPart) {
      const ids = changed ? [...changed] : firstPart ? [...firstPart] : await conferenceIds(stores);
      const all = await Promise.all(ids.map(entry));
      // A deleted entry has no topic left to judge and names only the conference URI.
      const conferences = mayWatch ? all.filter((c) => c.state === 'deleted' || mayWatch(c.topic)) : all;
      return buildDirectoryInfo({ entity, state: changed ? 'partial' : 'full', version, conferences });
    },
    items: () => conferenceIds(stores),
    listsItemsFirst: true,
  };
}
