// The notifier of RFC 6665 for the `conference` package (RFC 4575) and the topic directory
// (`pubsub-conferences`): SUBSCRIBE creates, refreshes or ends a subscription; roster and directory
// changes become partial NOTIFYs, rate-limited per subscription. All subscription state is in KV so
// another replica can take over; the in-memory index only drives expiry.
import { createHash } from 'node:crypto';
import {
  type AccessList,
  accessRefusalReason,
  EVENT_PACKAGES,
  type EventPackageName,
  isSubscriptionExpired,
  NotifyScheduler,
  negotiateExpires,
  refreshSubscription,
  type SubscriptionSnapshot,
  subscriptionStateHeader,
  type TerminationReason,
  terminateSubscription,
} from '@sip-pubsub/events';
import type { JsonBucket, Logger } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  type DirectoryEvent,
  type IndexRecord,
  type ParticipantRecord,
  participantKey,
  type RosterEvent,
  type SubscriptionRecord,
  subscriptionKey,
} from '@sip-pubsub/proto';
import type { ResolvedRecord } from '@sip-pubsub/senml';
import {
  acceptsAny,
  checkInDialogRequest,
  createInDialogRequest,
  createResponse,
  dialogFromUasResponse,
  type Flow,
  generateTag,
  getHeader,
  getHeaders,
  parseEvent,
  parseNameAddr,
  parseUri,
  peerFlow,
  type SipRequest,
  type SipResponse,
} from '@sip-pubsub/sip';
import {
  dataPackage,
  dataResourceKey as dataResourceKeyOf,
  isDataResourceKey,
  ownershipKey,
  recordChange,
} from './data-package.js';
import { OwnedSubscriptions } from './owned-subscriptions.js';
import { conferencePackage, directoryPackage, type PackageHandler, type Resolved } from './packages.js';
import type { PublicationSourcesStore } from './publication-sources.js';
import type { RetainedValuesStore } from './retained-values.js';
import type { RtpSourcesStore } from './rtp-sources.js';
import type { TopicDirectory } from './topic-directory.js';
import { inTopic, WildcardWatchers } from './wildcard-watchers.js';

/** Sends a request through an edge and resolves with the final status. */
export type RequestSender = (request: SipRequest, flow: Flow) => Promise<number>;

export interface NotifierStores {
  conferences: JsonBucket<ConferenceRecord>;
  participants: JsonBucket<ParticipantRecord>;
  subscriptions: JsonBucket<SubscriptionRecord>;
  /** Roster and directory index records the focus keeps (proto `indexes`). */
  indexes: JsonBucket<IndexRecord>;
}

export interface NotifierOptions {
  domain: string;
  stores: NotifierStores;
  send: RequestSender;
  logger: Logger;
  minNotifyIntervalMs: number;
  maxSubscriptionsPerConference: number;
  clock?: { now(): number; setTimeout(fn: () => void, ms: number): unknown; clearTimeout(h: unknown): void };
  /** The access list in force (reloaded from ACL_FILE); absent: everyone may watch everything. */
  access?: () => AccessList;
  /** Retained values of topics: with them the notifier serves `pubsub-data`. */
  retained?: RetainedValuesStore;
  /** Every topic, for the first NOTIFY of a wildcard watcher (without it that NOTIFY is an empty pack). */
  topicDirectory?: TopicDirectory;
  /** PUBLISH sources, shown in the conference package's roster with their src-id. */
  publicationSources?: PublicationSourcesStore;
  /** SSRCs of RTP publisher legs, shown as their endpoints' src-id. */
  rtpSources?: RtpSourcesStore;
  /** The event state compositor (RFC 3903); without it PUBLISH gets 501. */
  publish?: (req: SipRequest, flow: Flow, identity: string) => Promise<HandledRequest>;
  /** Largest NOTIFY body in bytes; larger state goes out in parts (default DEFAULT_NOTIFY_MAX_BODY_BYTES). */
  maxNotifyBodyBytes?: number;
}

/**
 * Below the SIP message limit (64 KiB, PROFILE "Limits"), with room for the NOTIFY's headers and the
 * edge's Via and Record-Route: a larger document could not be sent at all.
 */
export const DEFAULT_NOTIFY_MAX_BODY_BYTES = 60_000;

/** What an item (a user, a directory entry) is guessed to cost before a subscription's first part says. */
const GUESSED_ITEM_BYTES = 128;

/** Packages this notifier serves; answered in Allow-Events of a 489. */
export const SUPPORTED_PACKAGES: readonly EventPackageName[] = [
  'conference',
  'pubsub-conferences',
  'pubsub-data',
];

/** Resource key of the directory: the factory. */
export const DIRECTORY_KEY = 'factory';

export function subscriptionIdOf(callId: string, remoteTag: string, eventId: string | undefined): string {
  return createHash('sha256')
    .update(`${callId}\n${remoteTag}\n${eventId ?? ''}`)
    .digest('hex')
    .slice(0, 32);
}

/** The subscription engine's view of a stored subscription (packages/events subscription.ts). */
function snapshotOf(record: SubscriptionRecord): SubscriptionSnapshot {
  return {
    id: record.id,
    package: record.package,
    resource: record.resourceUri,
    status: record.status,
    expiresAt: record.expiresAt,
    version: record.version,
  };
}

/** One SIP dialog: Call-ID and both tags. */
function dialogIdOf(callId: string, remoteTag: string, localTag: string): string {
  return `${callId}\n${remoteTag}\n${localTag}`;
}

export interface HandledRequest {
  response: SipResponse;
  /** Work to do once the response is on its way (the first NOTIFY follows the 2xx). */
  after?: () => Promise<void>;
}

const defaultClock = {
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
};

export class ConferenceNotifier {
  private readonly clock: NonNullable<NotifierOptions['clock']>;
  private readonly scheduler: NotifyScheduler<string>;
  /** subscription key → expiry time, for the subscriptions this replica owns. */
  private readonly expiries = new OwnedSubscriptions((key) => {
    this.wildcards.forget(key);
    this.itemBytes.delete(key);
    this.forgetDialogMember(key);
  }, isDataResourceKey);
  /** Dialog (Call-ID, tags) → the owned subscriptions in it (RFC 6665 §4.5.2: several may share one). */
  private readonly dialogMembers = new Map<string, Set<string>>();
  /** Subscription key → its dialog, for dialogMembers and for ordering NOTIFYs per dialog. */
  private readonly dialogOf = new Map<string, string>();
  /** Wildcard pubsub-data subscriptions this replica owns, indexed by filter. */
  private readonly wildcards = new WildcardWatchers();
  /** Serialises the NOTIFYs of one subscription so versions and CSeqs go out in order. */
  private readonly queues = new Map<string, Promise<void>>();
  private readonly packages: Map<string, PackageHandler>;
  /** Subscription key → bytes per item its last part took, to size the next part of a large state. */
  private readonly itemBytes = new Map<string, number>();

  constructor(private readonly opts: NotifierOptions) {
    this.clock = opts.clock ?? defaultClock;
    this.packages = new Map(
      [
        conferencePackage(
          opts.stores,
          opts.domain,
          opts.publicationSources ? (id) => opts.publicationSources!.users(id) : undefined,
          opts.rtpSources ? (id) => opts.rtpSources!.of(id) : undefined,
        ),
        directoryPackage(opts.stores, opts.domain),
        ...(opts.retained
          ? [
              dataPackage(opts.stores, opts.retained, opts.domain, {
                directory: opts.topicDirectory,
                mayRead: opts.access
                  ? (identity, topic) => opts.access!().allows(identity, 'subscribe', topic)
                  : undefined,
              }),
            ]
          : []),
      ].map((h) => [h.name, h] as const),
    );
    this.scheduler = new NotifyScheduler<string>({
      minIntervalMs: opts.minNotifyIntervalMs,
      clock: this.clock,
      send: (key, changes) => this.enqueueNotify(key, () => this.notify(key, new Set(changes))),
    });
  }

  /** `identity`: the one the edge verified (SipRequestEnvelope.authenticated_identity; '' when none). */
  async handle(req: SipRequest, flow: Flow, identity = ''): Promise<HandledRequest> {
    if (req.method === 'SUBSCRIBE') return this.subscribe(req, flow, identity);
    if (req.method === 'PUBLISH') {
      if (this.opts.publish) return this.opts.publish(req, flow, identity);
      return { response: createResponse(req, 501, 'PUBLISH Not Implemented Yet') };
    }
    return {
      response: createResponse(req, 405, 'Method Not Allowed', {
        headers: [{ name: 'Allow', value: 'SUBSCRIBE, PUBLISH' }],
      }),
    };
  }

  private async subscribe(req: SipRequest, flow: Flow, identity: string): Promise<HandledRequest> {
    const eventHeader = getHeader(req, 'Event');
    if (!eventHeader) return { response: createResponse(req, 400, 'Missing Event Header') };
    let event: ReturnType<typeof parseEvent>;
    try {
      event = parseEvent(eventHeader);
    } catch {
      return { response: createResponse(req, 400, 'Malformed Event Header') };
    }
    const pkg = event.package.toLowerCase() as EventPackageName;
    // RFC 3515 §2.4.4: a refer subscription only exists as a REFER's implicit one, which the focus keeps
    // and ends with the final sipfrag; it is served (Allow-Events), but never made or extended by SUBSCRIBE.
    if ((pkg as string) === 'refer')
      return {
        response: createResponse(req, 403, 'Refer Subscriptions Come Only From REFER', {
          ...(parseNameAddr(getHeader(req, 'To') ?? '').params.tag ? {} : { toTag: generateTag() }),
        }),
      };
    if (!this.packages.has(pkg)) {
      return {
        response: createResponse(req, 489, 'Bad Event', {
          headers: [{ name: 'Allow-Events', value: [...this.packages.keys()].join(', ') }],
        }),
      };
    }
    const handler = this.packages.get(pkg)!;
    // PROFILE "Security": a SUBSCRIBE whose Accept excludes the package's body type gets 406.
    if (!acceptsAny(getHeaders(req, 'Accept'), [handler.contentType]))
      return {
        response: createResponse(req, 406, 'Not Acceptable', {
          headers: [{ name: 'Accept', value: handler.contentType }],
        }),
      };
    const resource = await handler.resolve(req.uri, req);
    if (!resource.ok) return { response: createResponse(req, resource.status, resource.reason) };

    const decision = negotiateExpires(EVENT_PACKAGES[pkg], getHeader(req, 'Expires'));
    if (!decision.ok) {
      if (decision.status === 423)
        return {
          response: createResponse(req, 423, 'Interval Too Brief', {
            headers: [{ name: 'Min-Expires', value: String(decision.minExpires) }],
          }),
        };
      return { response: createResponse(req, 400, decision.reason) };
    }

    const callId = getHeader(req, 'Call-ID') ?? '';
    const from = parseNameAddr(getHeader(req, 'From') ?? '');
    const toTag = parseNameAddr(getHeader(req, 'To') ?? '').params.tag ?? undefined;
    const id = subscriptionIdOf(callId, from.params.tag ?? '', event.id);
    const key = subscriptionKey(resource.key, id);
    const now = this.clock.now();

    if (toTag) {
      // RFC 6665 §4.5.2: another Event id (or package) in an existing dialog is a new subscription in it.
      const dialogId = dialogIdOf(callId, from.params.tag ?? '', toTag);
      if (!(await this.opts.stores.subscriptions.get(key)) && this.dialogMembers.has(dialogId))
        return this.subscribeInDialog(req, flow, {
          key,
          id,
          dialogId,
          handler,
          resource,
          eventId: event.id,
          expires: decision.expires,
          identity,
        });
      return this.refresh(req, key, toTag, decision.expires, identity);
    }
    if (!(await this.mayWatchResource(identity, handler.name, resource.key)))
      return {
        response: createResponse(
          req,
          403,
          accessRefusalReason(handler.name === 'pubsub-data' ? 'subscribe' : 'watch'),
        ),
      };

    if (this.expiries.keysOf(resource.key).length >= this.opts.maxSubscriptionsPerConference)
      return {
        response: createResponse(req, 503, 'Too Many Subscriptions', {
          headers: [{ name: 'Retry-After', value: '60' }],
        }),
      };

    const localTag = generateTag();
    const entity = resource.entity;
    const response = createResponse(req, 200, 'OK', {
      toTag: localTag,
      headers: [
        { name: 'Expires', value: String(decision.expires) },
        { name: 'Contact', value: `<${entity}>;isfocus` },
      ],
    });
    const record: SubscriptionRecord = {
      id,
      package: handler.name as SubscriptionRecord['package'],
      resourceKey: resource.key,
      resourceUri: entity,
      eventId: event.id,
      subscriber: from.uri,
      ...(identity ? { identity } : {}),
      status: 'active',
      expiresAt: now + decision.expires * 1000,
      version: 0,
      dialog: dialogFromUasResponse(req, response),
      flow: peerFlow(flow),
      createdAt: now,
      ...(resource.filter !== undefined ? { filter: resource.filter } : {}),
    };
    if (decision.expires === 0) {
      // A fetch (RFC 6665 §4.4.3): one NOTIFY with the state, which also ends the subscription.
      return { response, after: () => this.enqueueNotify(key, () => this.sendFinal(key, record, 'timeout')) };
    }
    await this.opts.stores.subscriptions.put(key, record);
    this.track(key, record);
    this.opts.logger.info(
      { resource: resource.key, package: handler.name, callId, subscription: id, expires: decision.expires },
      'subscription created',
    );
    return { response, after: () => this.enqueueNotify(key, () => this.notifyFull(key)) };
  }

  /**
   * A SUBSCRIBE in an existing subscription dialog for a subscription it does not have yet (another Event
   * id or package): created in that dialog, whose CSeq numbers stay in its first subscription's record.
   */
  private async subscribeInDialog(
    req: SipRequest,
    flow: Flow,
    s: {
      key: string;
      id: string;
      dialogId: string;
      handler: PackageHandler;
      resource: Extract<Resolved, { ok: true }>;
      eventId: string | undefined;
      expires: number;
      identity: string;
    },
  ): Promise<HandledRequest> {
    const gone = { response: createResponse(req, 481, 'Subscription Does Not Exist') };
    const member = [...(this.dialogMembers.get(s.dialogId) ?? [])][0];
    const memberEntry = member ? await this.opts.stores.subscriptions.get(member) : null;
    if (!memberEntry) return gone;
    const carrierKey = memberEntry.value.dialogKey ?? member!;
    const carrier = await this.opts.stores.subscriptions.get(carrierKey);
    if (!carrier) return gone;
    const owner = carrier.value.identity;
    if (s.identity !== '' && owner !== undefined && owner !== s.identity)
      return { response: createResponse(req, 403, 'Subscription Belongs To Another Identity') };
    if (!(await this.mayWatchResource(owner ?? s.identity, s.handler.name, s.resource.key)))
      return {
        response: createResponse(
          req,
          403,
          accessRefusalReason(s.handler.name === 'pubsub-data' ? 'subscribe' : 'watch'),
        ),
      };
    // §12.2.2 over the whole dialog: the subscriber's CSeq rises across all its subscriptions.
    const dialog = { ...carrier.value.dialog };
    const refused = checkInDialogRequest(dialog, req);
    if (refused) return { response: createResponse(req, refused.status, refused.reason) };
    if (this.expiries.keysOf(s.resource.key).length >= this.opts.maxSubscriptionsPerConference)
      return {
        response: createResponse(req, 503, 'Too Many Subscriptions', {
          headers: [{ name: 'Retry-After', value: '60' }],
        }),
      };
    const lasting = s.expires > 0;
    const stored = await this.opts.stores.subscriptions.mutate(carrierKey, (current) =>
      current
        ? {
            ...current,
            dialog: { ...current.dialog, remoteSeq: dialog.remoteSeq },
            ...(lasting ? { siblings: [...new Set([...(current.siblings ?? []), s.key])] } : {}),
          }
        : undefined,
    );
    if (!stored) return gone;
    const now = this.clock.now();
    const entity = s.resource.entity;
    const record: SubscriptionRecord = {
      id: s.id,
      package: s.handler.name as SubscriptionRecord['package'],
      resourceKey: s.resource.key,
      resourceUri: entity,
      eventId: s.eventId,
      subscriber: carrier.value.subscriber,
      ...(owner !== undefined ? { identity: owner } : s.identity ? { identity: s.identity } : {}),
      status: 'active',
      expiresAt: now + s.expires * 1000,
      version: 0,
      dialog: { ...stored.dialog },
      flow: peerFlow(flow),
      createdAt: now,
      dialogKey: carrierKey,
      ...(s.resource.filter !== undefined ? { filter: s.resource.filter } : {}),
    };
    const response = createResponse(req, 200, 'OK', {
      headers: [
        { name: 'Expires', value: String(s.expires) },
        { name: 'Contact', value: `<${entity}>;isfocus` },
      ],
    });
    this.dialogOf.set(s.key, s.dialogId);
    if (!lasting) {
      // A fetch inside the dialog: one NOTIFY, numbered in the dialog's CSeq space.
      return {
        response,
        after: () =>
          this.enqueueNotify(s.key, async () =>
            this.sendFinal(s.key, record, 'timeout', await this.claimDialogSeq(carrierKey)),
          ),
      };
    }
    await this.opts.stores.subscriptions.put(s.key, record);
    this.track(s.key, record);
    this.opts.logger.info(
      { resource: s.resource.key, package: s.handler.name, subscription: s.id, dialog: carrierKey },
      'subscription created in an existing dialog',
    );
    return { response, after: () => this.enqueueNotify(s.key, () => this.notifyFull(s.key)) };
  }

  /** The next CSeq of a dialog whose numbers `carrierKey`'s record keeps; undefined when it is gone. */
  private async claimDialogSeq(carrierKey: string): Promise<number | undefined> {
    const claimed = await this.opts.stores.subscriptions.mutate(carrierKey, (current) =>
      current
        ? { ...current, dialog: { ...current.dialog, localSeq: current.dialog.localSeq + 1 } }
        : undefined,
    );
    return claimed?.dialog.localSeq;
  }

  private forgetDialogMember(key: string): void {
    const dialogId = this.dialogOf.get(key);
    if (dialogId === undefined) return;
    const members = this.dialogMembers.get(dialogId);
    members?.delete(key);
    if (members?.size === 0) this.dialogMembers.delete(dialogId);
  }

  /** Watching a conference's roster is the `watch` action on its topic; the directory is filtered instead. */
  private async mayWatchResource(identity: string, pkg: string, resourceKey: string): Promise<boolean> {
    if (!this.opts.access || (pkg !== 'conference' && pkg !== 'pubsub-data')) return true;
    const conference = await this.opts.stores.conferences.get(ownershipKey(resourceKey));
    // Reading a topic's data is the `subscribe` action, as joining it to receive RTP is.
    const action = pkg === 'pubsub-data' ? 'subscribe' : 'watch';
    return !conference || this.opts.access().allows(identity, action, conference.value.topic);
  }

  /** Topics the subscription's identity may see, or undefined when there is no access list. */
  private watchFilter(record: SubscriptionRecord): ((topic: string) => boolean) | undefined {
    const access = this.opts.access;
    if (!access) return undefined;
    return (topic) => access().allows(record.identity ?? '', 'watch', topic);
  }

  private async refresh(
    req: SipRequest,
    key: string,
    toTag: string,
    expires: number,
    identity: string,
  ): Promise<HandledRequest> {
    const entry = await this.opts.stores.subscriptions.get(key);
    // A terminated record is only the carrier of its dialog for the subscriptions that outlived it.
    if (!entry || entry.value.status === 'terminated' || entry.value.dialog.localTag !== toTag)
      return { response: createResponse(req, 481, 'Subscription Does Not Exist') };
    // Only the identity that subscribed may refresh or end the subscription.
    const owner = entry.value.identity;
    if (identity !== '' && owner !== undefined && owner !== identity) {
      this.opts.logger.warn(
        { subscription: key, identity, owner },
        'SUBSCRIBE from another identity refused',
      );
      return { response: createResponse(req, 403, 'Subscription Belongs To Another Identity') };
    }
    // A refresh asks again (the list may have changed since); ending one is always allowed.
    if (
      expires > 0 &&
      !(await this.mayWatchResource(owner ?? identity, entry.value.package, entry.value.resourceKey))
    )
      return { response: createResponse(req, 403, accessRefusalReason('watch')) };
    // §12.2.2: CSeq must rise within the dialog; the accepted one is kept with the record carrying the
    // dialog (the subscription itself, or the first of its dialog).
    const carrierKey = entry.value.dialogKey ?? key;
    const carrier = carrierKey === key ? entry : await this.opts.stores.subscriptions.get(carrierKey);
    const dialog = { ...(carrier ?? entry).value.dialog };
    const refused = checkInDialogRequest(dialog, req);
    if (refused) return { response: createResponse(req, refused.status, refused.reason) };
    await this.opts.stores.subscriptions.mutate(carrierKey, (current) =>
      current ? { ...current, dialog: { ...current.dialog, remoteSeq: dialog.remoteSeq } } : undefined,
    );
    const response = createResponse(req, 200, 'OK', {
      headers: [
        { name: 'Expires', value: String(expires) },
        { name: 'Contact', value: `<${entry.value.resourceUri}>;isfocus` },
      ],
    });
    if (expires === 0) {
      // Unsubscribe (RFC 6665 §4.2.1.4): final NOTIFY with the current state and reason=timeout.
      this.untrack(key);
      this.scheduler.cancel(key);
      return { response, after: () => this.enqueueNotify(key, () => this.terminate(key, 'timeout')) };
    }
    const { expiresAt } = refreshSubscription(snapshotOf(entry.value), expires, this.clock.now());
    await this.opts.stores.subscriptions.mutate(key, (current) =>
      current ? { ...current, expiresAt } : undefined,
    );
    this.expiries.set(key, expiresAt);
    return { response, after: () => this.enqueueNotify(key, () => this.notifyFull(key)) };
  }

  /** A roster change in a conference this replica owns: watchers of its roster hear of the participant. */
  async onRoster(event: RosterEvent): Promise<void> {
    for (const key of this.subscriptionsOf(event.conferenceId))
      this.scheduler.enqueue(key, event.participant.aor);
    if (event.type === 'left' && event.removed)
      await this.endWatchesOf(event.conferenceId, event.participant.aor);
  }

  /**
   * A participant the chair removed (RFC 4579 §5.11) loses its own subscriptions to the conference
   * (roster and data): each ends with a final NOTIFY `reason=deactivated` (RFC 6665 §4.1.3).
   */
  private async endWatchesOf(conferenceId: string, aor: string): Promise<void> {
    const keys = [
      ...this.subscriptionsOf(conferenceId),
      ...this.expiries.keysOf(dataResourceKeyOf(conferenceId)),
    ];
    for (const key of keys) {
      const entry = await this.opts.stores.subscriptions.get(key);
      if (!entry || entry.value.status === 'terminated' || !sameEntity(entry.value.subscriber, aor)) continue;
      await this.enqueueNotify(key, () => this.terminate(key, 'deactivated'));
    }
  }

  /**
   * A change seen by directory watchers (owned by the owner of DIRECTORY_KEY): a conference created,
   * changed or deleted, or its counts changed with its roster.
   */
  async onDirectory(event: Pick<DirectoryEvent, 'conferenceId'>): Promise<void> {
    for (const key of this.subscriptionsOf(DIRECTORY_KEY)) this.scheduler.enqueue(key, event.conferenceId);
  }

  /** A conference this replica owns was ended: every watch of it ends (reason=noresource, RFC 6665 §4.1.3). */
  async onConferenceDeleted(conferenceId: string): Promise<void> {
    const keys = [
      ...this.subscriptionsOf(conferenceId),
      ...this.expiries.keysOf(dataResourceKeyOf(conferenceId)),
    ];
    await Promise.all(keys.map((key) => this.enqueueNotify(key, () => this.terminate(key, 'noresource'))));
  }

  /** Records that reached a topic this replica owns: its pubsub-data watchers hear of them. */
  onData(conferenceId: string, records: readonly ResolvedRecord[]): void {
    if (records.length === 0) return;
    for (const key of this.expiries.keysOf(dataResourceKeyOf(conferenceId)))
      for (const record of records) this.scheduler.enqueue(key, recordChange(record));
  }

  /**
   * An RTP publisher leg of a conference this replica owns started sending with a new SSRC: once it is
   * stored, its user's roster entry is re-sent with the `<src-id>`.
   */
  async onRtpSource(conferenceId: string, legId: string, stored: Promise<void>): Promise<void> {
    await stored;
    const participant = await this.opts.stores.participants.get(participantKey(conferenceId, legId));
    if (!participant) return;
    for (const key of this.expiries.keysOf(conferenceId)) this.scheduler.enqueue(key, participant.value.aor);
  }

  /** A PUBLISH source appeared in or left a conference this replica owns: its roster watchers hear of it. */
  onPublicationSource(conferenceId: string, publisher: string): void {
    for (const key of this.expiries.keysOf(conferenceId)) this.scheduler.enqueue(key, publisher);
  }

  /** Whether this replica owns pubsub-data watchers of some topic (then it reads the topics' streams). */
  get watchesData(): boolean {
    return this.expiries.countedResources > 0;
  }

  /** Whether this replica owns wildcard watchers (then it reads every topic's stream). */
  get watchesWildcards(): boolean {
    return this.wildcards.size > 0;
  }

  /** Records that reached `topic`: the wildcard watchers whose filter covers it hear of them, topic-prefixed. */
  onWildcardData(topic: string, records: readonly ResolvedRecord[]): void {
    if (records.length === 0) return;
    const access = this.opts.access;
    for (const { key, identity } of this.wildcards.match(topic)) {
      if (access && !access().allows(identity, 'subscribe', topic)) continue;
      for (const record of records) this.scheduler.enqueue(key, recordChange(inTopic(topic, record)));
    }
  }

  /** Ends subscriptions whose time is up; returns how many ended. */
  async sweep(): Promise<number> {
    const now = this.clock.now();
    let ended = 0;
    for (const [key, expiresAt] of this.expiries) {
      if (expiresAt > now) continue;
      // Re-read: a refresh handled by another replica may have extended it.
      const current = await this.opts.stores.subscriptions.get(key);
      if (current && !isSubscriptionExpired(snapshotOf(current.value), now)) {
        this.track(key, current.value);
        continue;
      }
      this.untrack(key);
      this.scheduler.cancel(key);
      if (current) {
        ended++;
        await this.enqueueNotify(key, () => this.terminate(key, 'timeout'));
      }
    }
    return ended;
  }

  private subscriptionsOf(resourceKey: string): string[] {
    return this.expiries.keysOf(resourceKey);
  }

  private track(key: string, record: SubscriptionRecord): void {
    this.expiries.set(key, record.expiresAt);
    this.wildcards.track(key, record);
    const dialogId = dialogIdOf(record.dialog.callId, record.dialog.remoteTag, record.dialog.localTag);
    this.dialogOf.set(key, dialogId);
    let members = this.dialogMembers.get(dialogId);
    if (!members) {
      members = new Set();
      this.dialogMembers.set(dialogId, members);
    }
    members.add(key);
  }

  private untrack(key: string): void {
    this.expiries.delete(key);
  }

  /**
   * A write to the subscriptions bucket by any replica (from a KV watch): a subscription of a resource we
   * own that another replica created (it was routed there while our channel was not ready, or it thought
   * it owned the resource) joins our in-memory index; one deleted elsewhere leaves it.
   */
  observe(key: string, record: SubscriptionRecord | null, isOwner: (resourceKey: string) => boolean): void {
    if (!record) {
      if (this.expiries.has(key)) {
        this.untrack(key);
        this.scheduler.cancel(key);
      }
      return;
    }
    const resource = key.slice(0, key.indexOf('.'));
    if (record.status === 'terminated' || this.expiries.has(key) || !isOwner(resource)) return;
    this.track(key, record);
  }

  /**
   * Loads the subscriptions of conferences this replica now owns (start-up or membership change). This
   * lists the subscriptions bucket, off the request path; deleted subscriptions leave no markers to walk.
   */
  async adopt(isOwner: (resourceKey: string) => boolean): Promise<number> {
    let adopted = 0;
    for (const key of await this.opts.stores.subscriptions.keys()) {
      const resource = key.slice(0, key.indexOf('.'));
      if (!isOwner(resource)) {
        this.untrack(key);
        continue;
      }
      if (this.expiries.has(key)) continue;
      const entry = await this.opts.stores.subscriptions.get(key);
      // A terminated record only carries the dialog of subscriptions that outlived the first one.
      if (!entry || entry.value.status === 'terminated') continue;
      this.track(key, entry.value);
      adopted++;
      // Watchers may have missed changes while no replica owned them: re-synchronise with full state.
      void this.enqueueNotify(key, () => this.notifyFull(key));
    }
    return adopted;
  }

  close(): void {
    this.scheduler.close();
  }

  get activeSubscriptions(): number {
    return this.expiries.size;
  }

  /** NOTIFYs go out one at a time per dialog, so CSeqs claimed in order reach the subscriber in order. */
  private enqueueNotify(key: string, work: () => Promise<void>): Promise<void> {
    const queue = this.dialogOf.get(key) ?? key;
    const previous = this.queues.get(queue) ?? Promise.resolve();
    const next = previous
      .then(work)
      .catch((err: Error) => this.opts.logger.error({ subscription: key, err: err.message }, 'NOTIFY failed'))
      .finally(() => {
        if (this.queues.get(queue) === next) this.queues.delete(queue);
        if (!this.expiries.has(key)) this.dialogOf.delete(key);
      });
    this.queues.set(queue, next);
    return next;
  }

  private handlerFor(record: SubscriptionRecord): PackageHandler {
    return this.packages.get(record.package)!;
  }

  private notifyFull(key: string): Promise<void> {
    return this.notify(key, undefined);
  }

  private async notify(key: string, changed: ReadonlySet<string> | undefined): Promise<void> {
    const entry = await this.opts.stores.subscriptions.get(key);
    if (!entry || entry.value.status === 'terminated') return;
    const handler = this.handlerFor(entry.value);
    // Claim the next version and CSeq in KV first, so a concurrent owner cannot reuse them.
    const claimed = await this.opts.stores.subscriptions.mutate(key, (current) =>
      current
        ? {
            ...current,
            version: current.version + 1,
            dialog: { ...current.dialog, localSeq: current.dialog.localSeq + 1 },
          }
        : undefined,
    );
    if (!claimed) return;
    const fitted = await this.fittingDocument(key, handler, claimed, changed);
    if (fitted === null) return this.terminate(key, 'noresource');
    const { body, rest } = fitted;
    let numbered = claimed;
    if (claimed.dialogKey) {
      // A subscription sharing a dialog takes the dialog's next CSeq from the record that carries it.
      const seq = await this.claimDialogSeq(claimed.dialogKey);
      if (seq === undefined) return this.remove(key);
      numbered = { ...claimed, dialog: { ...claimed.dialog, localSeq: seq } };
    }
    const state = subscriptionStateHeader(snapshotOf(claimed), this.clock.now());
    const request = this.buildNotify(numbered, state, body, handler.contentType);
    const status = await this.opts.send(request, claimed.flow);
    this.scheduler.markSent(key);
    if (status === 481 || status === 408 || status >= 500) {
      // RFC 6665 §4.1.3: a NOTIFY answered 481 or timing out ends the subscription.
      this.opts.logger.info({ subscription: key, status }, 'subscriber gone; subscription removed');
      await this.remove(key);
      return;
    }
    // What did not fit follows as partial NOTIFYs, each a rate window after the one before.
    for (const item of rest) this.scheduler.enqueue(key, item);
  }

  /**
   * The document for this NOTIFY, no larger than maxNotifyBodyBytes when its package lists its items:
   * the first part of the state (full, or the `changed` items) and the items left for later NOTIFYs.
   * A large set of changes is cut before anything is built, so sending a big state in parts reads each
   * item about once, not once per part.
   */
  private async fittingDocument(
    key: string,
    handler: PackageHandler,
    record: SubscriptionRecord,
    changed: ReadonlySet<string> | undefined,
  ): Promise<{ body: string; rest: readonly string[] } | null> {
    const max = this.opts.maxNotifyBodyBytes ?? DEFAULT_NOTIFY_MAX_BODY_BYTES;
    const mayWatch = this.watchFilter(record);
    const build = (part?: ReadonlySet<string>) =>
      handler.document(
        record.resourceKey,
        record.resourceUri,
        record.version,
        changed ? (part ?? changed) : undefined,
        mayWatch,
        record,
        changed ? undefined : part,
      );
    const perPart = Math.max(1, Math.floor(max / (this.itemBytes.get(key) ?? GUESSED_ITEM_BYTES)));
    let items: readonly string[];
    let count: number;
    if (handler.items && changed && changed.size > perPart) {
      items = [...changed];
      count = perPart;
    } else if (handler.items && !changed && handler.listsItemsFirst) {
      items = await handler.items(record.resourceKey, mayWatch, record);
      count = Math.min(items.length, perPart);
    } else {
      const whole = await build();
      if (whole === null) return null;
      const bytes = Buffer.byteLength(whole);
      if (bytes <= max || !handler.items) return { body: whole, rest: [] };
      items = changed ? [...changed] : await handler.items(record.resourceKey, mayWatch, record);
      count = Math.floor(((items.length * max) / bytes) * 0.9);
    }
    for (;;) {
      count = Math.max(1, Math.min(count, items.length));
      const body = await build(new Set(items.slice(0, count)));
      if (body === null) return null;
      const bytes = Buffer.byteLength(body);
      this.itemBytes.set(key, bytes / count);
      // A single item larger than the limit goes out as it is: the edge refuses it and it is logged.
      if (bytes <= max || count === 1) return { body, rest: items.slice(count) };
      count = Math.floor(((count * max) / bytes) * 0.9);
    }
  }

  private async terminate(key: string, reason: TerminationReason): Promise<void> {
    const entry = await this.opts.stores.subscriptions.get(key);
    if (!entry || entry.value.status === 'terminated') return;
    // In a shared dialog the final NOTIFY's CSeq is claimed while the record carrying it still exists.
    const carrier = entry.value.dialogKey ?? (entry.value.siblings?.length ? key : undefined);
    const seq = carrier ? await this.claimDialogSeq(carrier) : undefined;
    await this.remove(key);
    await this.sendFinal(key, entry.value, reason, seq);
  }

  private async sendFinal(
    key: string,
    record: SubscriptionRecord,
    reason: TerminationReason,
    /** The dialog's CSeq to use when the dialog is shared; else the record's next one. */
    seq?: number,
  ): Promise<void> {
    const handler = this.handlerFor(record);
    const version = record.version + 1;
    const dialog = { ...record.dialog, localSeq: seq ?? record.dialog.localSeq + 1 };
    const body = await handler.document(
      record.resourceKey,
      record.resourceUri,
      version,
      undefined,
      this.watchFilter(record),
      record,
    );
    const ended = terminateSubscription({ ...snapshotOf(record), status: 'active' }, reason);
    // A final NOTIFY need not carry state (RFC 6665 §4.2.2): state too large for one goes without it.
    const fits =
      body !== null &&
      Buffer.byteLength(body) <= (this.opts.maxNotifyBodyBytes ?? DEFAULT_NOTIFY_MAX_BODY_BYTES);
    const request = this.buildNotify(
      { ...record, version, dialog },
      subscriptionStateHeader(ended, this.clock.now()),
      fits ? body : undefined,
      handler.contentType,
    );
    const status = await this.opts.send(request, record.flow);
    this.opts.logger.info({ subscription: key, reason, status }, 'subscription terminated');
  }

  private async remove(key: string): Promise<void> {
    this.untrack(key);
    this.scheduler.cancel(key);
    const entry = await this.opts.stores.subscriptions.get(key);
    const carrierKey = entry?.value.dialogKey;
    if (carrierKey) {
      await this.opts.stores.subscriptions.delete(key);
      // The dialog's first subscription forgets it, and goes too if it only stayed to carry the dialog.
      await this.opts.stores.subscriptions.mutate(carrierKey, (current) => {
        if (!current) return undefined;
        const siblings = (current.siblings ?? []).filter((k) => k !== key);
        if (current.status === 'terminated' && siblings.length === 0) return null;
        return { ...current, siblings };
      });
    } else if (entry?.value.siblings?.length) {
      // Others live in this dialog: the record stays, terminated, carrying the dialog's CSeq numbers.
      await this.opts.stores.subscriptions.mutate(key, (current) =>
        current ? { ...current, status: 'terminated' } : undefined,
      );
    } else {
      await this.opts.stores.subscriptions.delete(key);
    }
  }

  private buildNotify(
    record: SubscriptionRecord,
    state: string,
    body: string | undefined,
    contentType: string,
  ): SipRequest {
    const dialog = { ...record.dialog };
    const eventValue = record.eventId ? `${record.package};id=${record.eventId}` : record.package;
    // createInDialogRequest increments localSeq; the claimed value is already the one to use.
    dialog.localSeq -= 1;
    return createInDialogRequest(dialog, 'NOTIFY', {
      headers: [
        { name: 'Event', value: eventValue },
        { name: 'Subscription-State', value: state },
        { name: 'Contact', value: `<${record.resourceUri}>;isfocus` },
      ],
      ...(body !== undefined ? { body, contentType } : {}),
    });
  }
}

/** The same user at the same host (ports and parameters aside): a subscriber's From and a roster entity. */
function sameEntity(a: string, b: string): boolean {
  try {
    const x = parseUri(a);
    const y = parseUri(b);
    return x.user === y.user && x.host.toLowerCase() === y.host.toLowerCase();
  } catch {
    return a === b;
  }
}
