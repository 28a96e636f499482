// The topic directory document of the pubsub-conferences package (PROFILE.md "Events"):
// one <pubsub-conference> per topic under the factory URI.
import { EventDocumentError, VersionGapError } from './errors.js';
import {
  parseEnum,
  parseOptionalUnsigned,
  parseXmlDocument,
  readEntity,
  readVersion,
  UINT32_MAX,
  type XmlElement,
} from './xml-reader.js';
import { requireEntity, unsignedInteger, XmlWriter } from './xml-writer.js';

export const DIRECTORY_CONTENT_TYPE = 'application/pubsub-conferences-info+xml';
export const DIRECTORY_NAMESPACE = 'urn:ietf:params:xml:ns:pubsub-conferences-info';

export interface DirectoryEntry {
  /** The conference URI. */
  entity: string;
  state: 'full' | 'partial' | 'deleted';
  topic: string;
  publisherCount?: number;
  subscriberCount?: number;
}

export interface DirectoryInfo {
  /** The factory URI. */
  entity: string;
  state: 'full' | 'partial';
  version: number;
  conferences: DirectoryEntry[];
}

const DOCUMENT_STATES = ['full', 'partial'] as const;
const ENTRY_STATES = ['full', 'partial', 'deleted'] as const;
const REPEATED_ELEMENTS: ReadonlySet<string> = new Set(['pubsub-conference']);

export function buildDirectoryInfo(info: DirectoryInfo): string {
  requireEntity('pubsub-conferences-info', info.entity);
  const w = new XmlWriter();
  w.start('pubsub-conferences-info', [
    ['xmlns', DIRECTORY_NAMESPACE],
    ['entity', info.entity],
    ['state', info.state],
    ['version', unsignedInteger('version', info.version, UINT32_MAX)],
  ]);
  for (const entry of info.conferences) {
    requireEntity('pubsub-conference', entry.entity);
    w.start('pubsub-conference', [
      ['entity', entry.entity],
      ['state', entry.state],
    ])
      .text('topic', entry.topic)
      .text('publisher-count', unsignedInteger('publisherCount', entry.publisherCount))
      .text('subscriber-count', unsignedInteger('subscriberCount', entry.subscriberCount))
      .end();
  }
  w.end();
  return w.toString();
}

export function parseDirectoryInfo(xml: string): DirectoryInfo {
  const root = parseXmlDocument(xml, 'pubsub-conferences-info', REPEATED_ELEMENTS);
  return {
    entity: readEntity(root),
    state: parseEnum('pubsub-conferences-info state', root.attribute('state') ?? 'full', DOCUMENT_STATES),
    version: readVersion(root),
    conferences: root.children('pubsub-conference').map(readEntry),
  };
}

function readEntry(element: XmlElement): DirectoryEntry {
  const state = parseEnum('pubsub-conference state', element.attribute('state') ?? 'full', ENTRY_STATES);
  const topic = element.childText('topic');
  // A removal names the conference; its topic may be left out.
  if (topic === undefined && state !== 'deleted')
    throw new EventDocumentError('<pubsub-conference> has no topic');
  const entry: DirectoryEntry = { entity: readEntity(element), state, topic: topic ?? '' };
  const publishers = parseOptionalUnsigned('publisher-count', element.childText('publisher-count'));
  if (publishers !== undefined) entry.publisherCount = publishers;
  const subscribers = parseOptionalUnsigned('subscriber-count', element.childText('subscriber-count'));
  if (subscribers !== undefined) entry.subscriberCount = subscribers;
  return entry;
}

/**
 * The directory counterpart of applyConferenceInfo: full replaces, partial must be previous+1 and
 * adds, updates (fields present) or removes (state 'deleted') conferences by entity.
 */
export function applyDirectoryInfo(current: DirectoryInfo | undefined, update: DirectoryInfo): DirectoryInfo {
  if (update.state === 'full') {
    const conferences = update.conferences
      .filter((c) => c.state !== 'deleted')
      .map((c) => ({ ...c, state: 'full' as const }));
    return { ...update, conferences };
  }
  if (current === undefined) throw new VersionGapError(undefined, update.version);
  if (update.version !== current.version + 1) throw new VersionGapError(current.version + 1, update.version);
  const byEntity = new Map(current.conferences.map((c) => [c.entity, c] as const));
  for (const change of update.conferences) {
    const existing = byEntity.get(change.entity);
    if (change.state === 'deleted') byEntity.delete(change.entity);
    else if (existing === undefined || change.state === 'full')
      byEntity.set(change.entity, { ...change, state: 'full' });
    else {
      const merged: DirectoryEntry = { ...existing, topic: change.topic };
      if (change.publisherCount !== undefined) merged.publisherCount = change.publisherCount;
      if (change.subscriberCount !== undefined) merged.subscriberCount = change.subscriberCount;
      byEntity.set(change.entity, merged);
    }
  }
  return {
    entity: current.entity,
    state: 'full',
    version: update.version,
    conferences: [...byEntity.values()],
  };
}
