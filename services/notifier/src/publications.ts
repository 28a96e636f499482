// The event state compositor for `pubsub-data` (RFC 3903, PROFILE.md "PUBLISH"): PUBLISH to a conference
// URI creates, refreshes, modifies or removes a publication kept in KV (`publications`, one record per
// entity tag), delivers its pack into the topic's media stream and retained values, and times out state
// nobody refreshed — once, by the owner, with a compare-and-set delete so a second owner cannot repeat it.
import { randomBytes } from 'node:crypto';
import {
  type AccessList,
  accessRefusalReason,
  classifyPublish,
  classifyUri,
  createEventState,
  EVENT_PACKAGES,
  EventStateExpiries,
  type EventStateSnapshot,
  matchesEventState,
  modifyEventState,
  negotiateExpires,
  type PublishOperation,
  refreshEventState,
} from '@sip-pubsub/events';
import type { JsonBucket, Logger } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  type PublicationRecord,
  type PublicationSource,
  publicationKey,
  publicationSourceKey,
} from '@sip-pubsub/proto';
import {
  decodeSenmlCbor,
  parseSenmlJson,
  type ResolvedRecord,
  resolvePack,
  SenmlError,
  type SenmlPack,
} from '@sip-pubsub/senml';
import {
  createResponse,
  type Flow,
  generateTag,
  getHeader,
  parseEvent,
  parseNameAddr,
  type SipRequest,
} from '@sip-pubsub/sip';
import type { HandledRequest } from './notifier.js';
import type { PublicationSourcesStore } from './publication-sources.js';
import { packetCount, packetsOf, publisherSsrc } from './publish-source.js';
import type { RetainedValuesStore } from './retained-values.js';

/** PUBLISH durations (PROFILE.md "PUBLISH": default 600, minimum 30, maximum 86400), as for pubsub-data. */
const PUBLISH_EXPIRES = EVENT_PACKAGES['pubsub-data'];
export const PUBLISH_PACKAGE = 'pubsub-data';
export const SENML_JSON = 'application/senml+json';
export const SENML_CBOR = 'application/senml+cbor';

export interface PublicationStores {
  conferences: JsonBucket<ConferenceRecord>;
  publications: JsonBucket<PublicationRecord>;
  sources: JsonBucket<PublicationSource>;
}

export interface PublicationCompositorOptions {
  stores: PublicationStores;
  retained: RetainedValuesStore;
  logger: Logger;
  maxPackBytes: number;
  /** Live publications per topic beyond which an initial PUBLISH gets 503 (counted in the sources record). */
  maxPublicationsPerConference?: number;
  /** Puts the pack's RTP packets on `pubsub.media.<conf>` (every relay hosting the topic delivers them). */
  emitMedia(conferenceId: string, ssrc: number, packets: Uint8Array[], receivedAt: number): void;
  /** PUBLISH sources for the roster; `onSource` hears when one appears or goes. */
  sources?: PublicationSourcesStore;
  onSource?(conferenceId: string, publisher: string): void;
  /** Records published into a topic, for its pubsub-data watchers. */
  onRecords(conferenceId: string, topic: string, records: ResolvedRecord[]): void;
  access?: () => AccessList;
  now?: () => number;
}

export class PublicationCompositor {
  private readonly expiries = new EventStateExpiries();
  private readonly now: () => number;

  constructor(private readonly opts: PublicationCompositorOptions) {
    this.now = opts.now ?? Date.now;
  }

  get activePublications(): number {
    return this.expiries.size;
  }

  async handle(req: SipRequest, _flow: Flow, identity = ''): Promise<HandledRequest> {
    const toTag = generateTag();
    const reply = (status: number, reason: string, headers: { name: string; value: string }[] = []) => ({
      response: createResponse(req, status, reason, { toTag, headers }),
    });
    let pkg: string;
    try {
      pkg = parseEvent(getHeader(req, 'Event') ?? '').package.toLowerCase();
    } catch {
      return reply(400, 'Malformed Event Header');
    }
    if (pkg !== PUBLISH_PACKAGE)
      return reply(489, 'Bad Event', [{ name: 'Allow-Events', value: PUBLISH_PACKAGE }]);

    const target = classifyUri(req.uri);
    if (target.kind !== 'conference') return reply(404, 'Not Found');
    const conferenceId = target.conferenceId;
    const conference = await this.opts.stores.conferences.get(conferenceId);
    if (!conference) return reply(404, 'Conference Not Found');

    const decision = negotiateExpires(PUBLISH_EXPIRES, getHeader(req, 'Expires'));
    if (!decision.ok) {
      if (decision.status === 423)
        return reply(423, 'Interval Too Brief', [
          { name: 'Min-Expires', value: String(decision.minExpires) },
        ]);
      return reply(400, decision.reason);
    }
    const ifMatch = getHeader(req, 'SIP-If-Match')?.trim();
    const hasBody = req.body.length > 0;
    const classified = classifyPublish({ ifMatch, hasBody, expires: decision.expires });
    if (!classified.ok) return reply(classified.status, classified.reason);
    const operation = classified.operation;

    let pack: SenmlPack | undefined;
    if (hasBody && operation !== 'remove') {
      const parsed = this.parseBody(req);
      if (!parsed.ok)
        return {
          response: createResponse(req, parsed.status, parsed.reason, { toTag, headers: parsed.headers }),
        };
      pack = parsed.pack;
    }

    const topic = conference.value.topic;
    if (operation !== 'remove' && this.opts.access && !this.opts.access().allows(identity, 'publish', topic))
      return reply(403, accessRefusalReason('publish'));

    const now = this.now();
    let record: PublicationRecord;
    const max = this.opts.maxPublicationsPerConference;
    if (operation === 'initial' && max !== undefined && this.opts.sources)
      if ((await this.opts.sources.count(conferenceId)) >= max)
        return reply(503, 'Too Many Publications', [{ name: 'Retry-After', value: '60' }]);
    if (operation === 'initial') {
      const publisher = parseNameAddr(getHeader(req, 'From') ?? '').uri;
      record = await this.create(conferenceId, decision.expires, now, publisher, identity, pack!);
    } else {
      const key = publicationKey(conferenceId, ifMatch!);
      const entry = await this.opts.stores.publications.get(key);
      if (!entry || !matchesEventState(snapshotOf(entry.value), ifMatch!, now))
        return reply(412, 'Conditional Request Failed');
      // Only the identity that published may change or remove its state.
      if (identity !== '' && entry.value.identity !== undefined && entry.value.identity !== identity)
        return reply(403, 'Publication Belongs To Another Identity');
      if (operation === 'remove') {
        const removed = await this.remove(key, entry.revision, entry.value, 'removed');
        if (!removed) return reply(412, 'Conditional Request Failed');
        return reply(200, 'OK', [{ name: 'Expires', value: '0' }]);
      }
      const next = await this.replace(
        key,
        entry.revision,
        entry.value,
        operation,
        decision.expires,
        now,
        pack,
      );
      if (!next) return reply(412, 'Conditional Request Failed');
      record = next;
    }
    this.opts.logger.info(
      { conferenceId, operation, publication: record.id, etag: record.etag, expires: decision.expires },
      'publication accepted',
    );
    const response = createResponse(req, 200, 'OK', {
      toTag,
      headers: [
        { name: 'SIP-ETag', value: record.etag },
        { name: 'Expires', value: String(decision.expires) },
      ],
    });
    if (!pack) return { response };
    // Retained before the 200, so a replica that dies right after it loses no retained value.
    const records = resolvePack(pack, Math.floor(now / 1000));
    await this.opts.retained.addPublished(conferenceId, records, record.id);
    const published = pack;
    const after = () =>
      this.deliver(conferenceId, topic, record, published, records, now).catch((err: Error) =>
        this.opts.logger.error(
          { conferenceId, publication: record.id, err: err.message },
          'delivering a PUBLISHed pack failed',
        ),
      );
    return { response, after };
  }

  /** Times out publications this replica owns whose expiry has passed; returns how many it ended. */
  async sweep(): Promise<number> {
    const now = this.now();
    let ended = 0;
    for (const key of this.expiries.due(now)) {
      const entry = await this.opts.stores.publications.get(key);
      if (!entry) {
        this.expiries.forget(key);
        continue;
      }
      // A refresh on another replica may have moved it; its record says.
      if (entry.value.expiresAt > now) {
        this.expiries.track(key, entry.value.expiresAt);
        continue;
      }
      if (await this.remove(key, entry.revision, entry.value, 'expired')) ended++;
    }
    return ended;
  }

  /** Tracks the expiry of publications whose conferences this replica now owns (start-up, membership change). */
  async adopt(isOwner: (conferenceId: string) => boolean): Promise<number> {
    let adopted = 0;
    for (const key of await this.opts.stores.publications.keys()) {
      if (!key.includes('.etag.')) continue;
      const conferenceId = key.slice(0, key.indexOf('.'));
      if (!isOwner(conferenceId)) {
        this.expiries.forget(key);
        continue;
      }
      if (this.expiries.has(key)) continue;
      const entry = await this.opts.stores.publications.get(key);
      if (!entry) continue;
      this.expiries.track(key, entry.value.expiresAt);
      adopted++;
    }
    return adopted;
  }

  private parseBody(
    req: SipRequest,
  ):
    | { ok: true; pack: SenmlPack }
    | { ok: false; status: number; reason: string; headers: { name: string; value: string }[] } {
    const type = (getHeader(req, 'Content-Type') ?? '').split(';', 1)[0].trim().toLowerCase();
    const limits = { maxPackBytes: this.opts.maxPackBytes };
    try {
      if (type === SENML_JSON) return { ok: true, pack: parseSenmlJson(req.body.toString('utf8'), limits) };
      if (type === SENML_CBOR) return { ok: true, pack: decodeSenmlCbor(req.body, limits) };
    } catch (err) {
      if (!(err instanceof SenmlError)) throw err;
      // The reason phrase names the first fault; it must stay one line of printable text.
      const reason = `Invalid SenML: ${err.message}`.replace(/[\r\n\t]+/g, ' ').slice(0, 200);
      return { ok: false, status: 400, reason, headers: [] };
    }
    return {
      ok: false,
      status: 415,
      reason: 'Unsupported Media Type',
      headers: [{ name: 'Accept', value: `${SENML_JSON}, ${SENML_CBOR}` }],
    };
  }

  private async create(
    conferenceId: string,
    expires: number,
    now: number,
    publisher: string,
    identity: string,
    pack: SenmlPack,
  ): Promise<PublicationRecord> {
    for (;;) {
      const state = createEventState(newEntityTag(), expires, now);
      const record: PublicationRecord = {
        conferenceId,
        ...state,
        publisher,
        ...(identity ? { identity } : {}),
        ssrc: publisherSsrc(identity || publisher),
        pack: JSON.stringify(pack),
        createdAt: now,
        updatedAt: now,
      };
      const key = publicationKey(conferenceId, state.etag);
      try {
        await this.opts.stores.publications.create(key, record);
      } catch (err) {
        // 96 random bits do not collide; if they did, draw again rather than overwrite.
        if ((err as Error).name === 'KvConflictError') continue;
        throw err;
      }
      this.expiries.track(key, record.expiresAt);
      if (this.opts.sources) {
        await this.opts.sources.add(conferenceId, record.id, publisher, record.ssrc, now);
        this.opts.onSource?.(conferenceId, publisher);
      }
      return record;
    }
  }

  /** Refresh or modify: the state moves to a new tag (new key), and the old tag's key goes, in that order. */
  private async replace(
    key: string,
    revision: number,
    current: PublicationRecord,
    operation: Exclude<PublishOperation, 'initial' | 'remove'>,
    expires: number,
    now: number,
    pack: SenmlPack | undefined,
  ): Promise<PublicationRecord | undefined> {
    const snapshot = snapshotOf(current);
    const etag = newEntityTag();
    const state =
      operation === 'modify'
        ? modifyEventState(snapshot, etag, expires, now)
        : refreshEventState(snapshot, etag, expires, now);
    const next: PublicationRecord = {
      ...current,
      ...state,
      ...(pack ? { pack: JSON.stringify(pack) } : {}),
      updatedAt: now,
    };
    const nextKey = publicationKey(current.conferenceId, etag);
    await this.opts.stores.publications.create(nextKey, next);
    try {
      // Compare-and-set: of two requests racing with the same tag, one wins; the other's new tag is undone.
      await this.opts.stores.publications.delete(key, revision);
    } catch (err) {
      await this.opts.stores.publications.delete(nextKey);
      if ((err as Error).name === 'KvConflictError') return undefined;
      throw err;
    }
    this.expiries.forget(key);
    this.expiries.track(nextKey, next.expiresAt);
    return next;
  }

  /** Ends the state (Expires 0 or timeout) and what it retains; false if another request got there first. */
  private async remove(
    key: string,
    revision: number,
    record: PublicationRecord,
    why: 'removed' | 'expired',
  ): Promise<boolean> {
    try {
      await this.opts.stores.publications.delete(key, revision);
    } catch (err) {
      if ((err as Error).name === 'KvConflictError') return false;
      throw err;
    }
    this.expiries.forget(key);
    await this.opts.retained.dropPublication(record.conferenceId, record.id);
    if (this.opts.sources) {
      await this.opts.sources.remove(record.conferenceId, record.id);
      this.opts.onSource?.(record.conferenceId, record.publisher);
    }
    this.opts.logger.info(
      { conferenceId: record.conferenceId, publication: record.id, etag: record.etag },
      why === 'expired' ? 'publication expired' : 'publication removed',
    );
    return true;
  }

  /** After the 200: the pack goes to RTP subscribers and pubsub-data watchers. */
  private async deliver(
    conferenceId: string,
    topic: string,
    record: PublicationRecord,
    pack: SenmlPack,
    records: ResolvedRecord[],
    now: number,
  ): Promise<void> {
    const count = packetCount(pack);
    // Claim the sequence numbers first, so two replicas sending for one source never reuse one.
    let first = 0;
    await this.opts.stores.sources.mutate(publicationSourceKey(conferenceId, record.ssrc), (current) => {
      first = current ? current.nextSequence : randomBytes(2).readUInt16BE(0);
      return { nextSequence: (first + count) & 0xffff };
    });
    this.opts.emitMedia(conferenceId, record.ssrc, packetsOf(pack, record.ssrc, first, now), now);
    this.opts.onRecords(conferenceId, topic, records);
  }
}

function snapshotOf(r: PublicationRecord): EventStateSnapshot {
  return { id: r.id, etag: r.etag, status: r.status, expiresAt: r.expiresAt, generation: r.generation };
}

/** 96 random bits in base32-ish hex: a token (RFC 3903 §11.3) and a valid KV key segment. */
function newEntityTag(): string {
  return randomBytes(12).toString('hex');
}
