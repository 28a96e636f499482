// The `pubsub-data` event package (PROFILE.md "Events", "PUBLISH"): a conference's latest values as a SenML
// pack. The first NOTIFY carries every retained value; later ones the records that arrived since the
// previous NOTIFY (the scheduler merges them per window; the latest record per name is kept).
import {
  classifyUri,
  conferenceUri,
  factoryUri,
  parseTopicPattern,
  TopicPatternError,
} from '@sip-pubsub/events';
import type { JsonBucket } from '@sip-pubsub/platform';
import type { ConferenceRecord, SubscriptionRecord } from '@sip-pubsub/proto';
import type { ResolvedRecord } from '@sip-pubsub/senml';
import { getHeader } from '@sip-pubsub/sip';
import type { PackageHandler } from './packages.js';
import type { RetainedValuesStore } from './retained-values.js';
import type { TopicDirectory } from './topic-directory.js';
import { inTopic } from './wildcard-watchers.js';

export const SENML_JSON_CONTENT_TYPE = 'application/senml+json';
/** Subscriptions of the pubsub-data package of conference `c` are kept under resource key `c-data`. */
const DATA_SUFFIX = '-data';

/** Wildcard pubsub-data subscriptions (at the factory URI) are kept under this resource key. */
export const WILDCARD_RESOURCE_KEY = 'factory-data';

export function dataResourceKey(conferenceId: string): string {
  return `${conferenceId}${DATA_SUFFIX}`;
}

/** Whether a resource key is a pubsub-data one (a topic's, or the wildcard watchers'). */
export function isDataResourceKey(resourceKey: string): boolean {
  return resourceKey.endsWith(DATA_SUFFIX);
}

/** The key whose rendezvous owner owns a resource: a conference's data subscriptions go with the conference. */
export function ownershipKey(resourceKey: string): string {
  return resourceKey.endsWith(DATA_SUFFIX) ? resourceKey.slice(0, -DATA_SUFFIX.length) : resourceKey;
}

/** A change queued for a pubsub-data subscription: one record, as JSON. */
export function recordChange(record: ResolvedRecord): string {
  return JSON.stringify(record);
}

/** The latest record per name among `changes` (arrival order), as a pack. */
export function mergeChanges(changes: Iterable<string>): ResolvedRecord[] {
  const latest = new Map<string, ResolvedRecord>();
  for (const change of changes) {
    const record = JSON.parse(change) as ResolvedRecord;
    latest.delete(record.n);
    latest.set(record.n, record);
  }
  return [...latest.values()];
}

export function dataPackage(
  stores: { conferences: JsonBucket<ConferenceRecord> },
  retained: RetainedValuesStore,
  domain: string,
  wildcard: {
    directory?: TopicDirectory;
    /** Whether an identity may read a topic (the access list's `subscribe`); absent: all may. */
    mayRead?: (identity: string, topic: string) => boolean;
  } = {},
): PackageHandler {
  /** Full state: the retained values (of every topic a wildcard filter covers, names prefixed with the topic). */
  const fullState = async (
    key: string,
    subscription?: SubscriptionRecord,
  ): Promise<ResolvedRecord[] | null> => {
    if (key === WILDCARD_RESOURCE_KEY) {
      const filter = subscription?.filter;
      if (!wildcard.directory || filter === undefined) return [];
      const identity = subscription?.identity ?? '';
      const out: ResolvedRecord[] = [];
      for (const { conferenceId, topic } of wildcard.directory.matching(filter)) {
        if (wildcard.mayRead && !wildcard.mayRead(identity, topic)) continue;
        for (const r of await retained.current(conferenceId)) out.push(inTopic(topic, r));
      }
      return out;
    }
    const conferenceId = ownershipKey(key);
    if (!(await stores.conferences.get(conferenceId))) return null;
    return retained.current(conferenceId);
  };
  return {
    name: 'pubsub-data',
    contentType: SENML_JSON_CONTENT_TYPE,
    async resolve(requestUri, req) {
      const target = classifyUri(requestUri);
      if (target.kind === 'factory') {
        // PROFILE "Wildcard watching": the Subject header holds the topic filter.
        const subject = req ? getHeader(req, 'Subject') : undefined;
        if (subject === undefined || subject.trim() === '')
          return { ok: false, status: 400, reason: 'Missing Subject Topic Filter' };
        try {
          const filter = parseTopicPattern(subject).text;
          return { ok: true, key: WILDCARD_RESOURCE_KEY, entity: factoryUri(domain), filter };
        } catch (err) {
          if (!(err instanceof TopicPatternError)) throw err;
          return { ok: false, status: 400, reason: `Invalid Topic Filter: ${err.message}`.slice(0, 200) };
        }
      }
      if (target.kind !== 'conference') return { ok: false, status: 404, reason: 'Not Found' };
      if (!(await stores.conferences.get(target.conferenceId)))
        return { ok: false, status: 404, reason: 'Conference Not Found' };
      return {
        ok: true,
        key: dataResourceKey(target.conferenceId),
        entity: conferenceUri(target.conferenceId, domain),
      };
    },
    async document(key, _entity, _version, changed, _mayWatch, subscription, firstPart) {
      // Items are records (recordChange): a part of full state is read as changes are.
      const part = changed ?? firstPart;
      if (part) {
        if (key !== WILDCARD_RESOURCE_KEY && !(await stores.conferences.get(ownershipKey(key)))) return null;
        return JSON.stringify(mergeChanges(part));
      }
      const records = await fullState(key, subscription);
      return records === null ? null : JSON.stringify(records);
    },
    async items(key, _mayWatch, subscription) {
      return ((await fullState(key, subscription)) ?? []).map(recordChange);
    },
  };
}
