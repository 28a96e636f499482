// Wires the notifier: gRPC HandleRequest → ConferenceNotifier, roster events from the bus for the
// conferences this replica owns (rendezvous over notifier replicas), NOTIFYs out through an edge.
import { AsyncLocalStorage } from 'node:async_hooks';
import { classifyUri, loadAccessList } from '@sip-pubsub/events';
import type {
  CallLink,
  LinkHandler,
  LinkIncomingCall,
  Member,
  RunningService,
  ServiceContext,
} from '@sip-pubsub/platform';
import {
  asyncUnary,
  ChannelCheckedMembership,
  EdgeLinks,
  failFastWithoutNats,
  GrpcClientPool,
  inRequestScope,
  JsonBucket,
  rendezvousOwner,
  startGrpcServer,
  unary,
} from '@sip-pubsub/platform';
import {
  BUCKETS,
  conferenceRecordSchema,
  conferenceWatchersSchema,
  contracts,
  decodeEvent,
  directoryEventSchema,
  encodeEvent,
  indexRecordSchema,
  legSourceSchema,
  MEDIA_HEADER_LEG,
  MEDIA_HEADER_RECEIVED_AT,
  MEDIA_HEADER_RED_PT,
  MEDIA_HEADER_RELAY,
  MEDIA_HEADER_T140_PT,
  MEDIA_PUBLISH_ORIGIN_PREFIX,
  MEDIA_READER_INTERVAL_MS,
  mediaReaderSchema,
  type NotifierClient,
  participantRecordSchema,
  publicationRecordSchema,
  publicationSourceSchema,
  publicationSourcesSchema,
  retainedValuesSchema,
  rosterEventSchema,
  rtpSourcesSchema,
  type SendRequestRequest,
  type SendRequestResponse__Output,
  type SignallingEdgeClient,
  type SipRequestEnvelope__Output,
  type SipResponseEnvelope,
  subjects,
  subscriptionRecordSchema,
} from '@sip-pubsub/proto';
import type { ResolvedRecord } from '@sip-pubsub/senml';
import {
  flowFromWire,
  flowToWire,
  getHeader,
  parseMessage,
  peerFlow,
  type SipRequest,
  serializeMessage,
} from '@sip-pubsub/sip';
import { Counter, Gauge } from 'prom-client';

import type { NotifierConfig } from './config.js';
import { ownershipKey } from './data-package.js';
import { MediaIngest } from './media-ingest.js';
import { ConferenceNotifier, DIRECTORY_KEY, type RequestSender } from './notifier.js';
import { PublicationSourcesStore } from './publication-sources.js';
import { PublicationCompositor } from './publications.js';
import { PUBLISH_T140_PT, publishSourceLegId } from './publish-source.js';
import { RetainedValuesStore } from './retained-values.js';
import { RtpSourcesStore } from './rtp-sources.js';
import { TopicDirectory } from './topic-directory.js';
import { ConferenceWatcherIndex } from './watcher-index.js';

export const NOTIFIER_SERVICE = 'notifier';
export const EDGE_SERVICE = 'signalling-edge';

export async function startNotifier(
  config: NotifierConfig,
  ctx: ServiceContext,
): Promise<RunningService & { grpcPort: number }> {
  const { logger, bus } = ctx;
  const [conferences, participants, subscriptions, publicationsBucket] = await Promise.all([
    ctx.kv.bucket(BUCKETS.conferences),
    ctx.kv.bucket(BUCKETS.participants),
    ctx.kv.bucket(BUCKETS.subscriptions),
    ctx.kv.bucket(BUCKETS.publications),
  ]);
  const indexes = await ctx.kv.bucket(BUCKETS.indexes);
  const notifies = new Counter({
    name: 'sip_pubsub_notifier_notify_total',
    help: 'NOTIFY requests sent, by final status class',
    labelNames: ['status'],
    registers: [ctx.registry],
  });
  const active = new Gauge({
    name: 'sip_pubsub_notifier_subscriptions',
    help: 'Subscriptions owned by this replica',
    registers: [ctx.registry],
  });

  const accessList = await loadAccessList(config, logger);
  const edges = new GrpcClientPool<SignallingEdgeClient>(contracts.SignallingEdge);
  const notifierPeers = new GrpcClientPool<NotifierClient>(contracts.Notifier);
  let membership: ChannelCheckedMembership | undefined;
  const pickEdge = (edgeId: string | undefined): Member | undefined => {
    const members = membership?.members(EDGE_SERVICE) ?? [];
    return members.find((m) => m.id === edgeId) ?? members[0];
  };
  // The edges' links to us: their SUBSCRIBEs and PUBLISHes come in on them, our NOTIFYs go out on them.
  const edgeLinks = new EdgeLinks({
    calls: { SendRequest: contracts.SignallingEdge.service.SendRequest },
    serves: {
      HandleRequest: {
        method: contracts.Notifier.service.HandleRequest,
        handle: ((envelope: SipRequestEnvelope__Output, call: LinkIncomingCall) =>
          handleOnLink(envelope, call)) as LinkHandler,
      },
    },
    logger,
  });
  // While a SUBSCRIBE's first NOTIFY is being built, the slot where it rides back with the 2xx.
  const followUps = new AsyncLocalStorage<FollowUpSlot>();
  const send: RequestSender = async (request, flow) => {
    const edge = pickEdge(flow.edgeId);
    if (!edge) {
      notifies.inc({ status: 'no-edge' });
      return 503;
    }
    const message: SendRequestRequest = {
      message: serializeMessage(request),
      flow: flowToWire({
        ...peerFlow(flow),
        // A connection belongs to the edge that holds it; another edge opens its own.
        connectionId: edge.id === flow.edgeId ? flow.connectionId : undefined,
        edgeId: edge.id,
      }),
      statusOnly: true,
    };
    const slot = followUps.getStore();
    const link = edgeLinks.get(edge.id);
    const res = slot?.takes(request, edge.id)
      ? await slot.take<SendRequestResponse__Output>(message, config.EDGE_RPC_TIMEOUT_MS)
      : link
        ? await link.call<SendRequestResponse__Output>('SendRequest', message, config.EDGE_RPC_TIMEOUT_MS)
        : await unary<SendRequestRequest, SendRequestResponse__Output>(
            edges.get(edge.address),
            'SendRequest',
            message,
            config.EDGE_RPC_TIMEOUT_MS,
          );
    notifies.inc({ status: `${Math.floor(res.status / 100)}xx` });
    return res.status;
  };

  const conferenceStore = new JsonBucket(conferences, conferenceRecordSchema);
  const retained = new RetainedValuesStore(new JsonBucket(publicationsBucket, retainedValuesSchema), {
    ttlMs: config.RETAIN_TTL,
    maxNames: config.RETAIN_MAX_NAMES,
  });
  const published = new Counter({
    name: 'sip_pubsub_notifier_publish_total',
    help: 'PUBLISH requests answered, by status',
    labelNames: ['status'],
    registers: [ctx.registry],
  });
  const sources = new PublicationSourcesStore(new JsonBucket(publicationsBucket, publicationSourcesSchema));
  const rtpSources = new RtpSourcesStore(new JsonBucket(publicationsBucket, rtpSourcesSchema));
  const compositor = new PublicationCompositor({
    stores: {
      conferences: conferenceStore,
      publications: new JsonBucket(publicationsBucket, publicationRecordSchema),
      sources: new JsonBucket(publicationsBucket, publicationSourceSchema),
    },
    retained,
    logger,
    maxPackBytes: config.MAX_SENML_PACK_BYTES,
    maxPublicationsPerConference: config.MAX_PUBLICATIONS_PER_CONFERENCE,
    emitMedia: (conferenceId, ssrc, packets, receivedAt) => {
      for (const packet of packets)
        bus.publish(subjects.media(conferenceId), packet, {
          [MEDIA_HEADER_RELAY]: `${MEDIA_PUBLISH_ORIGIN_PREFIX}${ctx.instanceId}`,
          [MEDIA_HEADER_LEG]: publishSourceLegId(ssrc),
          [MEDIA_HEADER_RECEIVED_AT]: String(receivedAt),
          [MEDIA_HEADER_T140_PT]: String(PUBLISH_T140_PT),
        });
    },
    onRecords: (conferenceId, _topic, records) => notifier.onData(conferenceId, records),
    sources,
    onSource: (conferenceId, publisher) => notifier.onPublicationSource(conferenceId, publisher),
    ...(config.ACL_FILE ? { access: () => accessList.current() } : {}),
  });
  // Every topic in memory (loaded once here, then from directory events) for wildcard watchers' full state.
  const topicDirectory = new TopicDirectory();
  await topicDirectory.load(conferenceStore);
  const notifier: ConferenceNotifier = new ConferenceNotifier({
    domain: config.SIP_DOMAIN,
    topicDirectory,
    retained,
    publicationSources: sources,
    rtpSources,
    publish: async (req, flow, identity) => {
      const handled = await compositor.handle(req, flow, identity);
      published.inc({ status: String(handled.response.status) });
      return handled;
    },
    stores: {
      conferences: conferenceStore,
      participants: new JsonBucket(participants, participantRecordSchema),
      subscriptions: new JsonBucket(subscriptions, subscriptionRecordSchema),
      indexes: new JsonBucket(indexes, indexRecordSchema),
    },
    send,
    logger,
    minNotifyIntervalMs: config.NOTIFY_MIN_INTERVAL_MS,
    maxNotifyBodyBytes: config.NOTIFY_MAX_BODY_BYTES,
    maxSubscriptionsPerConference: config.MAX_SUBSCRIPTIONS_PER_CONFERENCE,
    ...(config.ACL_FILE ? { access: () => accessList.current() } : {}),
  });

  // CONFERENCE_IDLE_TTL: the watchers record of each conference we own, for the focus's idle sweep.
  const watcherIndex =
    config.CONFERENCE_IDLE_TTL > 0
      ? new ConferenceWatcherIndex({
          watchers: new JsonBucket(indexes, conferenceWatchersSchema),
          conferences: conferenceStore,
          logger,
        })
      : undefined;
  const subscriptionStore = new JsonBucket(subscriptions, subscriptionRecordSchema);
  const reconcileWatchers = () =>
    watcherIndex
      ?.reconcile(subscriptionStore, owns)
      .then((n) => n > 0 && logger.info({ watchers: n }, 'watchers records completed'))
      .catch((err: Error) => logger.warn({ err: err.message }, 'watchers records not reconciled'));

  // Relays put a publication on the bus only while someone reads it (DESIGN.md "Media sharding"): this
  // replica reads every stream while it retains RTP values or owns pubsub-data watchers, and says so.
  const readsMedia = () => config.RETAIN_TTL > 0 || notifier.watchesWildcards || notifier.watchesData;
  let reading = false;
  const sayReading = (now: boolean) => {
    reading = now;
    try {
      bus.publish(
        subjects.mediaReaders,
        encodeEvent(mediaReaderSchema, { readerId: ctx.instanceId, reading: now }),
      );
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not say whether this replica reads media');
    }
  };
  const announceReading = (): void => {
    const now = readsMedia();
    if (now && !reading) sayReading(true);
  };
  const handleEnvelope = async (envelope: SipRequestEnvelope__Output) => {
    const request = parseMessage(envelope.message);
    if (request.kind !== 'request') throw new Error('edge sent a response to HandleRequest');
    const flow = flowFromWire(envelope.flow);
    // Every line logged while this request is handled names its Call-ID and conference.
    const target = classifyUri(request.uri);
    const scope = {
      callId: getHeader(request, 'Call-ID'),
      conferenceId: target.kind === 'conference' ? target.conferenceId : undefined,
      method: request.method,
    };
    const handled = await inRequestScope(scope, () =>
      failFastWithoutNats(ctx.natsConnected, () =>
        notifier.handle(request, flow, envelope.authenticatedIdentity ?? ''),
      ),
    );
    // A first pubsub-data watcher makes this replica a reader of the media streams: say so at once.
    announceReading();
    return { request, handled };
  };
  // On a link the first NOTIFY rides back with the 2xx (the edge sends both, in order): wait for it to be
  // built, up to FOLLOW_UP_WAIT_MS; past that the 2xx goes alone and the NOTIFY follows on its own.
  const handleOnLink = async (
    envelope: SipRequestEnvelope__Output,
    call: LinkIncomingCall,
  ): Promise<SipResponseEnvelope> => {
    const { request, handled } = await handleEnvelope(envelope);
    const message = serializeMessage(handled.response);
    const after = handled.after;
    if (!after) return { message };
    const slot = new FollowUpSlot(call.link, request, envelope.flow?.edgeId ?? '');
    const done = followUps.run(slot, () => after());
    const followUp = await slot.settle(done, FOLLOW_UP_WAIT_MS);
    return followUp ? { message, followUp: followUp.request, followUpId: followUp.id } : { message };
  };

  const grpcServer = await startGrpcServer({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    services: [
      {
        definition: contracts.Notifier.service,
        implementation: {
          HandleRequest: asyncUnary<SipRequestEnvelope__Output, SipResponseEnvelope>(async (envelope) => {
            const { handled } = await handleEnvelope(envelope);
            // The first NOTIFY must follow the 2xx: start it once the response has been handed back.
            if (handled.after) setImmediate(() => void handled.after?.());
            return { message: serializeMessage(handled.response) };
          }, logger),
          Link: edgeLinks.handler,
        },
      },
    ],
  });

  const self: Member = {
    id: ctx.instanceId,
    service: NOTIFIER_SERVICE,
    address: `${config.GRPC_ADVERTISE_HOST}:${grpcServer.port}`,
    meta: {},
  };
  // Edges are checked against our channels to them: NOTIFYs go through a live edge at once.
  membership = new ChannelCheckedMembership(
    ctx.membership({ self, watch: [NOTIFIER_SERVICE, EDGE_SERVICE] }),
    // Channels to the other notifiers are only watched: a dead one's subscriptions are adopted as soon
    // as its connection drops, not after three missed heartbeats.
    { [EDGE_SERVICE]: edges, [NOTIFIER_SERVICE]: notifierPeers },
    logger,
  );
  const owns = (resourceKey: string): boolean => {
    const ids = membership!.members(NOTIFIER_SERVICE).map((m) => m.id);
    // Before the first heartbeat round we may not see ourselves yet; then act as the only replica.
    return (
      (rendezvousOwner(ownershipKey(resourceKey), ids.includes(self.id) ? ids : [...ids, self.id]) ??
        self.id) === self.id
    );
  };

  const failed = (what: string) => (err: Error) => logger.error({ err: err.message }, `${what} failed`);
  const roster = bus.subscribe(subjects.rosterAll, (msg) => {
    const decoded = decodeEvent(rosterEventSchema, msg.data);
    if (!decoded.ok) {
      logger.warn({ subject: msg.subject, err: decoded.error }, 'ignored a malformed roster event');
      return;
    }
    const event = decoded.value;
    if (owns(event.conferenceId)) {
      notifier.onRoster(event).catch(failed('roster event'));
      if (event.type === 'left')
        rtpSources.remove(event.conferenceId, event.participant.legId).catch(failed('forgetting an SSRC'));
    }
    // Counts in the directory change with the roster.
    if (owns(DIRECTORY_KEY)) notifier.onDirectory(event).catch(failed('directory update'));
  });
  // Publications over RTP, from the relay that received them: retained values and pubsub-data watchers
  // of the conferences this replica owns. PUBLISHed packs were handled where they were accepted.
  const ingest = new MediaIngest({ maxPackBytes: config.MAX_SENML_PACK_BYTES });
  // Topics never change once created; a directory event may still be on its way, so ask KV once.
  const wildcardData = async (conferenceId: string, records: ResolvedRecord[]) => {
    let topic = topicDirectory.topicOf(conferenceId);
    if (topic === undefined) {
      const conference = await conferenceStore.get(conferenceId);
      if (!conference) return;
      topic = conference.value.topic;
      topicDirectory.remember(conferenceId, topic);
    }
    notifier.onWildcardData(topic, records);
  };
  // The roster's <src-id>: the SSRC a publisher sends with, said once per leg and SSRC by its relay.
  const legSources = bus.subscribe(subjects.legSourceAll, (msg) => {
    const decoded = decodeEvent(legSourceSchema, msg.data);
    if (!decoded.ok) {
      logger.warn({ subject: msg.subject, err: decoded.error }, 'ignored a malformed leg source');
      return;
    }
    const { conferenceId, legId, ssrc } = decoded.value;
    if (!owns(conferenceId)) return;
    const seen = rtpSources.observe(conferenceId, legId, ssrc);
    if (seen.changed)
      notifier.onRtpSource(conferenceId, legId, seen.stored).catch(failed('recording an SSRC'));
  });
  const readers = bus.subscribe(subjects.mediaReaders, (msg) => {
    const decoded = decodeEvent(mediaReaderSchema, msg.data);
    // A starting relay asks who reads: answer now rather than at the next period.
    if (decoded.ok && decoded.value.ask && readsMedia()) sayReading(true);
  });
  const readerTimer = setInterval(() => {
    const now = readsMedia();
    if (now || reading) sayReading(now);
  }, MEDIA_READER_INTERVAL_MS);
  readerTimer.unref();
  announceReading();
  const media = bus.subscribe(subjects.mediaAll, (msg) => {
    const conferenceId = msg.subject.slice(subjects.media('').length);
    // PUBLISHed packs were handled where they were accepted; only wildcard watchers still need them.
    const published = (msg.headers[MEDIA_HEADER_RELAY] ?? '').startsWith(MEDIA_PUBLISH_ORIGIN_PREFIX);
    const forOwner = !published && owns(conferenceId);
    if (!forOwner && !notifier.watchesWildcards) return;
    const legId = msg.headers[MEDIA_HEADER_LEG] ?? '';
    const t140Pt = Number(msg.headers[MEDIA_HEADER_T140_PT]);
    const redPt = Number(msg.headers[MEDIA_HEADER_RED_PT]);
    if (!Number.isInteger(t140Pt)) return;
    let records: ResolvedRecord[];
    try {
      records = ingest.onPacket(
        conferenceId,
        legId,
        msg.data,
        { t140Pt, redPt: Number.isInteger(redPt) ? redPt : undefined },
        Date.now(),
      );
    } catch (err) {
      // A packet we cannot read must not stop the others; the relays deliver it regardless.
      logger.warn({ conferenceId, err: (err as Error).message }, 'ignored an unreadable media packet');
      return;
    }
    if (records.length === 0) return;
    if (notifier.watchesWildcards) wildcardData(conferenceId, records).catch(failed('wildcard delivery'));
    if (!forOwner) return;
    notifier.onData(conferenceId, records);
    retained.addRtp(conferenceId, records).catch(failed('retaining values'));
  });
  const directory = bus.subscribe(subjects.directory, (msg) => {
    const decoded = decodeEvent(directoryEventSchema, msg.data);
    if (!decoded.ok) {
      logger.warn({ subject: msg.subject, err: decoded.error }, 'ignored a malformed directory event');
      return;
    }
    topicDirectory.apply(decoded.value);
    if (owns(DIRECTORY_KEY)) notifier.onDirectory(decoded.value).catch(failed('directory event'));
    if (decoded.value.type === 'deleted' && owns(decoded.value.conferenceId)) {
      notifier.onConferenceDeleted(decoded.value.conferenceId).catch(failed('conference end'));
      watcherIndex?.conferenceEnded(decoded.value.conferenceId).catch(failed('watchers record removal'));
    }
  });

  membership.on('change', (service) => {
    if (service !== NOTIFIER_SERVICE) return;
    notifier
      .adopt(owns)
      .then(announceReading)
      .catch((err: Error) => logger.error({ err: err.message }, 'adopting subscriptions failed'));
    compositor
      .adopt(owns)
      .catch((err: Error) => logger.error({ err: err.message }, 'adopting publications failed'));
    void reconcileWatchers();
  });
  await membership.start();
  // Subscriptions written by other replicas for resources we own join our index (see observe()).
  const observed = await subscriptions.watch((event) => {
    if (event.op === 'delete' || !event.value) {
      watcherIndex?.observe(event.key, null, owns);
      return notifier.observe(event.key, null, owns);
    }
    let record: ReturnType<typeof subscriptionRecordSchema.safeParse>;
    try {
      record = subscriptionRecordSchema.safeParse(JSON.parse(new TextDecoder().decode(event.value)));
    } catch {
      return;
    }
    if (!record.success) return;
    notifier.observe(event.key, record.data, owns);
    watcherIndex?.observe(event.key, record.data, owns);
  });
  await notifier.adopt(owns);
  await compositor.adopt(owns);
  void reconcileWatchers();

  let sweeping = false;
  const sweepTimer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    ingest.prune(Date.now() - 300_000);
    Promise.all([notifier.sweep(), compositor.sweep()])
      .catch((err: Error) => logger.error({ err: err.message }, 'expiry sweep failed'))
      .finally(() => {
        sweeping = false;
        active.set(notifier.activeSubscriptions);
      });
  }, config.EXPIRY_SWEEP_MS);
  sweepTimer.unref();

  logger.info({ grpcPort: grpcServer.port }, 'notifier started');
  return {
    grpcPort: grpcServer.port,
    ready: () => true,
    async stop() {
      clearInterval(sweepTimer);
      clearInterval(readerTimer);
      if (reading) sayReading(false);
      readers.unsubscribe();
      legSources.unsubscribe();
      observed.stop();
      roster.unsubscribe();
      directory.unsubscribe();
      media.unsubscribe();
      await membership?.stop();
      await edgeLinks.drain(5_000);
      await grpcServer.stop(5_000);
      notifier.close();
      edges.close();
      accessList.close();
      notifierPeers.close();
    },
  };
}

/** How long a SUBSCRIBE's 2xx waits for its first NOTIFY to ride with it. */
const FOLLOW_UP_WAIT_MS = 200;

/**
 * The place, while a SUBSCRIBE's `after` runs, for its first NOTIFY: the first NOTIFY of the same dialog
 * through the same edge is reserved as a call on the link and travels in the 2xx's envelope.
 */
class FollowUpSlot {
  private state: 'open' | 'taken' | 'closed' = 'open';
  private followUp: { request: SendRequestRequest; id: number } | undefined;
  private onTaken: (() => void) | undefined;
  private readonly callId: string | undefined;

  constructor(
    private readonly link: CallLink,
    subscribe: SipRequest,
    private readonly edgeId: string,
  ) {
    this.callId = getHeader(subscribe, 'Call-ID');
  }

  takes(request: SipRequest, edgeId: string): boolean {
    return (
      this.state === 'open' &&
      request.method === 'NOTIFY' &&
      edgeId === this.edgeId &&
      getHeader(request, 'Call-ID') === this.callId &&
      !this.link.closed
    );
  }

  /** Reserves the NOTIFY's call on the link; the edge answers it once it has sent the 2xx and the NOTIFY. */
  take<Res>(request: SendRequestRequest, deadlineMs: number): Promise<Res> {
    const reserved = this.link.reserve<Res>('SendRequest', deadlineMs);
    if (reserved.id === 0) return reserved.result;
    this.state = 'taken';
    this.followUp = { request, id: reserved.id };
    this.onTaken?.();
    return reserved.result;
  }

  /** The follow-up to carry, once `after` has produced it, finished without one, or waitMs passed. */
  settle(
    done: Promise<void>,
    waitMs: number,
  ): Promise<{ request: SendRequestRequest; id: number } | undefined> {
    return new Promise((resolve) => {
      // Closed in the same turn as the decision: a NOTIFY built a moment later goes out by itself.
      const finish = () => {
        clearTimeout(timer);
        if (this.state === 'open') this.state = 'closed';
        this.onTaken = undefined;
        resolve(this.followUp);
      };
      const timer = setTimeout(finish, waitMs);
      if (this.state === 'taken') return finish();
      this.onTaken = finish;
      done.then(finish, finish);
    });
  }
}
