// The `pubsub-data` event package as a watcher reads it (PROFILE.md "PUBLISH"): each NOTIFY body is a
// SenML pack; the view is the latest record per resolved name, the first NOTIFY's full state merged with
// every later delta.
import { parseSenmlJson, type ResolvedRecord, resolvePack, type SenmlPack } from '@sip-pubsub/senml';
import type { WatchedPackage } from './watcher.js';

export const DATA_EVENT = 'pubsub-data';
export const SENML_JSON = 'application/senml+json';
/** PROFILE "Events": pubsub-data default 600 s, minimum 30 s. */
export const DEFAULT_DATA_EXPIRES = 600;

/** Whether a topic argument is a wildcard filter (`+` or `#` as a whole segment). */
export function isTopicFilter(topic: string): boolean {
  return topic.split('/').some((segment) => segment === '+' || segment === '#');
}

/** `subject`: the topic filter of a wildcard watch at the factory URI. */
export function dataPackage(subject?: string): WatchedPackage<ResolvedRecord[]> {
  return {
    event: DATA_EVENT,
    contentType: SENML_JSON,
    // An empty pack (nothing retained yet) is a valid NOTIFY body, though not a valid SenML pack.
    parse: (text) => (text.trim() === '[]' ? [] : resolved(parseSenmlJson(text))),
    apply: (view, doc) => {
      const latest = new Map((view ?? []).map((r) => [r.n, r] as const));
      for (const r of doc) {
        latest.delete(r.n);
        latest.set(r.n, r);
      }
      return [...latest.values()];
    },
    ...(subject !== undefined ? { headers: [{ name: 'Subject', value: subject }] } : {}),
  };
}

function resolved(pack: SenmlPack): ResolvedRecord[] {
  return resolvePack(pack, Math.floor(Date.now() / 1000));
}
