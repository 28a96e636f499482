// Wires the focus: gRPC HandleRequest → Focus, relays through membership, state in KV buckets.
import { classifyUri, loadAccessList } from '@sip-pubsub/events';
import type { LinkHandler, Member, RunningService, ServiceContext } from '@sip-pubsub/platform';
import {
  asyncUnary,
  ChannelCheckedMembership,
  EdgeLinks,
  failFastWithoutNats,
  GrpcClientPool,
  inRequestScope,
  JsonBucket,
  type RequestLogFields,
  rendezvousOwner,
  startGrpcServer,
  unary,
} from '@sip-pubsub/platform';
import {
  BUCKETS,
  conferenceRecordSchema,
  conferenceWatchersSchema,
  contracts,
  counterSchema,
  type DialogFailure__Output,
  type DialogFailureResult,
  type FocusControllerClient,
  indexRecordSchema,
  type MediaRelayClient,
  participantRecordSchema,
  referDialogRecordSchema,
  referralRecordSchema,
  type SendRequestRequest,
  type SendRequestResponse__Output,
  type SessionTimerHandOver,
  type SessionTimerHandOver__Output,
  type SessionTimerHandOverResult,
  type SessionTimerHandOverResult__Output,
  type SignallingEdgeClient,
  type SipRequestEnvelope__Output,
  type SipResponseEnvelope,
  subscriptionRecordSchema,
  topicRecordSchema,
} from '@sip-pubsub/proto';
import {
  type Flow,
  flowFromWire,
  flowToWire,
  getHeader,
  parseCSeq,
  parseMessage,
  parseNameAddr,
  peerFlow,
  type SipRequest,
  type SipResponse,
  serializeMessage,
} from '@sip-pubsub/sip';
import type { FocusConfig } from './config.js';
import { DialogEnding } from './dialog-ending.js';
import { type ParticipantRequestSender, RelayFailover, watchRelayDepartures } from './failover.js';
import { Focus } from './focus.js';
import { idleSweepIntervalMs } from './idle-deadline.js';
import { IdleSweeper } from './idle-sweeper.js';
import { backfillIndexes, IndexWriter, rosterIndexRemoval, watchParticipantDeletes } from './indexes.js';
import { legIdOf } from './participant.js';
import { Referrals } from './refer.js';
import { GrpcRelayDirectory, RELAY_SERVICE, RelayLoadView } from './relays.js';
import { sessionTimerArming } from './session-timer-owner.js';

export const FOCUS_SERVICE = 'focus-controller';
export const EDGE_SERVICE = 'signalling-edge';

export async function startFocusController(
  config: FocusConfig,
  ctx: ServiceContext,
): Promise<RunningService & { grpcPort: number }> {
  const { logger } = ctx;
  const [conferences, topics, participants, counters, referralBucket] = await Promise.all([
    ctx.kv.bucket(BUCKETS.conferences),
    ctx.kv.bucket(BUCKETS.topics),
    ctx.kv.bucket(BUCKETS.participants),
    ctx.kv.bucket(BUCKETS.counters),
    ctx.kv.bucket(BUCKETS.referrals),
  ]);
  const accessList = await loadAccessList(config, logger);
  const indexStore = new JsonBucket(await ctx.kv.bucket(BUCKETS.indexes), indexRecordSchema);
  const relayClients = new GrpcClientPool<MediaRelayClient>(contracts.MediaRelay);
  // The handler needs the focus, which needs membership, which needs our bound gRPC port.
  let focus: Focus | undefined;
  let dialogs: DialogEnding | undefined;
  /** HandleRequest, unary or on an edge's link; `call` says whether the edge is still waiting. */
  const handleRequest = async (
    envelope: SipRequestEnvelope__Output,
    call: { cancelled: boolean; getDeadline(): Date | number },
  ): Promise<SipResponseEnvelope> => {
    if (!focus || !dialogs) throw new Error('focus-controller is starting');
    const request = parseMessage(envelope.message);
    if (request.kind !== 'request') throw new Error('edge sent a response to HandleRequest');
    const flow = flowFromWire(envelope.flow);
    const handling = focus;
    // Every line logged while this request is handled names its Call-ID and conference.
    const response = await inRequestScope(requestLogFieldsOf(request), () =>
      failFastWithoutNats(ctx.natsConnected, () =>
        handling.handle(request, flow, envelope.authenticatedIdentity ?? ''),
      ),
    );
    // The edge gave up on this call (deadline, or it went away) and answered the caller itself: a
    // participant we stored for a new dialog has no dialog at the caller. Undo it (no BYE).
    // The edge may also have told us already (DialogFailed without our tag) while we worked.
    if (response && endsInNewDialog(request, response)) {
      const legId = legIdOf(getHeader(request, 'Call-ID') ?? '', fromTag(request));
      const cseq = cseqOf(request);
      // In FACTORY_MODE=join the INVITE went to the factory; its dialog is the Contact's conference.
      const contact = classifyUri(parseNameAddr(getHeader(response, 'Contact') ?? '').uri);
      const conferenceId = contact.kind === 'conference' ? contact.conferenceId : envelope.routingKey;
      if (callAbandoned(call) || dialogs.abandoned(legId, cseq))
        await dialogs.end(
          conferenceId,
          legId,
          { reason: 'the edge gave up on the INVITE before its 2xx' },
          (p) => p.localTag === toTag(response) && p.remoteSeq === cseq,
        );
    }
    return { message: response ? serializeMessage(response) : Buffer.alloc(0) };
  };
  // The edges' links to us: their requests come in on them, our requests to participants go out on them.
  const edgeLinks = new EdgeLinks({
    calls: { SendRequest: contracts.SignallingEdge.service.SendRequest },
    serves: {
      HandleRequest: {
        method: contracts.FocusController.service.HandleRequest,
        handle: handleRequest as LinkHandler,
      },
    },
    logger,
  });
  const grpcServer = await startGrpcServer({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    services: [
      {
        definition: contracts.FocusController.service,
        implementation: {
          HandleRequest: asyncUnary<SipRequestEnvelope__Output, SipResponseEnvelope>(handleRequest, logger),
          Link: edgeLinks.handler,
          DialogFailed: asyncUnary<DialogFailure__Output, DialogFailureResult>(async (failure) => {
            if (!dialogs) throw new Error('focus-controller is starting');
            return { ended: await dialogs.dialogFailed(failure) };
          }, logger),
          AdoptSessionTimer: asyncUnary<SessionTimerHandOver__Output, SessionTimerHandOverResult>(
            async (handOver) => {
              if (!dialogs) throw new Error('focus-controller is starting');
              return { armed: await dialogs.adopt(handOver.conferenceId, handOver.legId) };
            },
            logger,
          ),
        },
      },
    ],
  });
  const edges = new GrpcClientPool<SignallingEdgeClient>(contracts.SignallingEdge);
  const focusPeers = new GrpcClientPool<FocusControllerClient>(contracts.FocusController);
  // Relays and edges are checked against our channels to them: a killed relay is gone from members()
  // (and its participants' failover starts) as soon as its connection drops, not after three heartbeats.
  const membership = new ChannelCheckedMembership(
    ctx.membership({
      self: {
        id: ctx.instanceId,
        service: FOCUS_SERVICE,
        address: `${config.GRPC_ADVERTISE_HOST}:${grpcServer.port}`,
        meta: {},
      },
      watch: [RELAY_SERVICE, FOCUS_SERVICE, EDGE_SERVICE],
    }),
    // Channels to the other focus replicas are only watched: a dead one's conferences (and their relay
    // failover) pass to the next of the ranking as soon as its connection drops.
    { [RELAY_SERVICE]: relayClients, [EDGE_SERVICE]: edges, [FOCUS_SERVICE]: focusPeers },
    logger,
  );
  const self = membership.self!;
  const owns = (conferenceId: string): boolean => {
    const ids = membership.members(FOCUS_SERVICE).map((m) => m.id);
    // Before our first heartbeat comes back we may not see ourselves; count us in (as the edge soon will).
    return (
      (rendezvousOwner(conferenceId, ids.includes(self.id) ? ids : [...ids, self.id]) ?? self.id) === self.id
    );
  };

  const relayLoad = new RelayLoadView().follow(ctx.bus);
  const relays = new GrpcRelayDirectory(membership, relayClients, config.RELAY_RPC_TIMEOUT_MS, {
    load: relayLoad,
    legsPerRelay: config.RELAY_SPREAD_LEGS,
  });
  const participantStore = new JsonBucket(participants, participantRecordSchema);
  const conferenceStore = new JsonBucket(conferences, conferenceRecordSchema);
  // CONFERENCE_IDLE_TTL: a sweep over the conferences we own ends those idle past it (idle-sweeper.ts).
  const idle =
    config.CONFERENCE_IDLE_TTL > 0
      ? new IdleSweeper({
          ttlMs: config.CONFERENCE_IDLE_TTL,
          stores: {
            conferences: conferenceStore,
            indexes: indexStore,
            watchers: new JsonBucket(indexStore.bucket, conferenceWatchersSchema),
            subscriptions: new JsonBucket(
              await ctx.kv.bucket(BUCKETS.subscriptions),
              subscriptionRecordSchema,
            ),
          },
          owns,
          terminate: (conferenceId, reason) => {
            if (!focus) throw new Error('focus-controller is starting');
            return focus.terminateConference(conferenceId, reason);
          },
          logger,
        })
      : undefined;
  // Built below, once the sender exists; the focus calls it only while serving requests.
  let referrals: Referrals | undefined;
  // RFC 4028 deadlines are kept by the conference's owner, which also adopts them on failover. A join
  // answered elsewhere (FACTORY_MODE=join: the factory's owner) hands its timer over to that owner.
  const armSessionTimer = sessionTimerArming({
    owns,
    armHere: (p) => dialogs?.arm(p),
    handOver: async (conferenceId, legId) => {
      const ids = liveFocusReplicas();
      const ownerId = rendezvousOwner(conferenceId, ids);
      const owner = membership.members(FOCUS_SERVICE).find((m) => m.id === ownerId);
      if (!owner) throw new Error(`the owner ${ownerId ?? '(none)'} is not reachable`);
      const res = await unary<SessionTimerHandOver, SessionTimerHandOverResult__Output>(
        focusPeers.get(owner.address),
        'AdoptSessionTimer',
        { conferenceId, legId },
        config.RELAY_RPC_TIMEOUT_MS,
      );
      return res.armed;
    },
    logger,
  });
  focus = new Focus({
    domain: config.SIP_DOMAIN,
    onExistingTopic: config.FACTORY_ON_EXISTING_TOPIC,
    factoryMode: config.FACTORY_MODE,
    endParticipant: (conferenceId, legId, reason, matches) => {
      if (!dialogs) throw new Error('focus-controller is starting');
      return dialogs.end(conferenceId, legId, { reason, byeCause: 200 }, matches);
    },
    invalidData: config.INVALID_DATA_POLICY,
    maxConferences: config.MAX_CONFERENCES,
    maxLegsPerConference: config.MAX_LEGS_PER_CONFERENCE,
    maxPublishersPerConference: config.MAX_PUBLISHERS_PER_CONFERENCE || undefined,
    maxSubscribersPerConference: config.MAX_SUBSCRIBERS_PER_CONFERENCE || undefined,
    stores: {
      conferences: conferenceStore,
      topics: new JsonBucket(topics, topicRecordSchema),
      participants: participantStore,
      counters: new JsonBucket(counters, counterSchema),
      indexes: indexStore,
    },
    bus: ctx.bus,
    relays,
    logger,
    mediaHost: config.MEDIA_HOST,
    ...(config.ACL_FILE ? { access: () => accessList.current() } : {}),
    ...(idle ? { admits: (conferenceId: string) => idle.admits(conferenceId) } : {}),
    sessionTimer: { minSeconds: config.SESSION_MIN_SE, preferredSeconds: config.SESSION_EXPIRES },
    // Built below, once the sender it needs exists; the focus calls it only while serving requests.
    sessionDeadlines: {
      arm: armSessionTimer,
      disarm: (key) => dialogs?.disarm(key),
      acked: (legId, cseq) => dialogs?.acked(legId, cseq),
    },
    referrals: {
      handle: (req, conferenceId, flow, identity) => {
        if (!referrals) throw new Error('focus-controller is starting');
        return referrals.handle(req, conferenceId, flow, identity);
      },
    },
  });

  // Requests to participants go out through an edge: the one that holds their flow, else any.
  const sendThroughEdge = async (
    request: SipRequest,
    flow: Flow,
    timeoutMs = 0,
    ownerAcks = false,
  ): ReturnType<ParticipantRequestSender> => {
    const members = membership.members(EDGE_SERVICE);
    const edge: Member | undefined = members.find((m) => m.id === flow.edgeId) ?? members[0];
    if (!edge) return { status: 503, reason: 'No signalling-edge Available' };
    const message: SendRequestRequest = {
      message: serializeMessage(request),
      flow: flowToWire({
        ...peerFlow(flow),
        // A connection belongs to the edge that holds it; another edge opens its own.
        connectionId: edge.id === flow.edgeId ? flow.connectionId : undefined,
        edgeId: edge.id,
      }),
      // An INVITE the edge CANCELs after this long (a dial-out nobody answers).
      timeoutMs,
      // A dial-out's 2xx is ours to ACK (refer.ts): the edge ends the dialog if our ACK does not come.
      ownerAcks,
    };
    // Room for the CANCEL and the 487 after the edge's own deadline.
    const deadlineMs = Math.max(config.EDGE_RPC_TIMEOUT_MS, timeoutMs + 10_000);
    // On the edge's link when it has one open to us; a one-off call otherwise.
    const link = edgeLinks.get(edge.id);
    const res = link
      ? await link.call<SendRequestResponse__Output>('SendRequest', message, deadlineMs)
      : await unary<SendRequestRequest, SendRequestResponse__Output>(
          edges.get(edge.address),
          'SendRequest',
          message,
          deadlineMs,
        );
    const parsed = res.response.length > 0 ? parseMessage(res.response) : undefined;
    return {
      status: res.status,
      reason: res.reason,
      response: parsed?.kind === 'response' ? parsed : undefined,
      edgeId: edge.id,
    };
  };
  const sendToParticipant: ParticipantRequestSender = (request, flow) => sendThroughEdge(request, flow);
  dialogs = new DialogEnding({
    domain: config.SIP_DOMAIN,
    participants: participantStore,
    indexes: indexStore,
    relays,
    send: sendToParticipant,
    bus: ctx.bus,
    logger,
    owns,
  }).follow(ctx.bus);
  const liveFocusReplicas = () => {
    const ids = membership.members(FOCUS_SERVICE).map((m) => m.id);
    return ids.includes(self.id) ? ids : [...ids, self.id];
  };
  referrals = new Referrals({
    domain: config.SIP_DOMAIN,
    selfId: self.id,
    stores: {
      conferences: conferenceStore,
      participants: participantStore,
      indexes: indexStore,
      referrals: new JsonBucket(referralBucket, referralRecordSchema),
      referDialogs: new JsonBucket(referralBucket, referDialogRecordSchema),
    },
    relays,
    send: sendThroughEdge,
    bus: ctx.bus,
    logger,
    admins: config.ADMIN_IDENTITIES,
    ...(config.ACL_FILE ? { access: () => accessList.current() } : {}),
    maxLegsPerConference: config.MAX_LEGS_PER_CONFERENCE,
    dialOutTimeoutMs: config.DIAL_OUT_TIMEOUT_MS,
    terminateConference: (conferenceId, reason) => {
      if (!focus) throw new Error('focus-controller is starting');
      return focus.terminateConference(conferenceId, reason).then(() => undefined);
    },
    arm: armSessionTimer,
    liveReplicas: liveFocusReplicas,
    owns,
    ...(idle ? { admits: (conferenceId: string) => idle.admits(conferenceId) } : {}),
  });
  const recoverReferrals = () =>
    referrals
      ?.recoverOrphans()
      .then((n) => n > 0 && logger.warn({ referrals: n }, 'orphaned referrals reported'))
      .catch((err: Error) => logger.warn({ err: err.message }, 'could not recover referrals'));
  const failover = new RelayFailover({
    domain: config.SIP_DOMAIN,
    stores: { participants: participantStore, conferences: conferenceStore, indexes: indexStore },
    relays,
    send: sendToParticipant,
    bus: ctx.bus,
    logger,
    owns,
  });
  watchRelayDepartures(membership, (departed) => {
    logger.warn({ relays: departed.map((m) => m.id) }, 'media relays left; moving their participants');
    failover
      .relaysLeft(departed)
      .then((summary) =>
        logger.info({ relays: departed.map((m) => m.id), ...summary }, 'relay failover done'),
      )
      .catch((err: Error) => logger.error({ err: err.message }, 'relay failover failed'));
  });

  // Session-timer deadlines live in the owner's memory: a replica that takes conferences over arms theirs.
  const adoptSessionTimers = () =>
    dialogs
      ?.adoptOwned()
      .then((armed) => armed > 0 && logger.info({ armed }, 'session timers adopted'))
      .catch((err: Error) => logger.warn({ err: err.message }, 'could not adopt session timers'));
  membership.on('change', (service) => {
    if (service === FOCUS_SERVICE) {
      void adoptSessionTimers();
      void recoverReferrals();
    }
  });

  await membership.start();
  void adoptSessionTimers();
  void recoverReferrals();
  // And now and then: a referral can be orphaned without a membership change (a pass that failed, a
  // replica back under the same id, one stuck); each pass reads the index and a bounded batch.
  if (config.REFERRAL_SWEEP_INTERVAL_MS > 0) referrals.startSweeping(config.REFERRAL_SWEEP_INTERVAL_MS);
  // Records from before the index existed get their index entries (once, in the background), and every
  // deletion of a participant, by whatever path, leaves the roster index of the conference's owner.
  const indexWriter = new IndexWriter(indexStore, Date.now, logger);
  // One watch: the roster index loses the leg, and (CONFERENCE_IDLE_TTL) the conference's idle time restarts.
  const deletes = await watchParticipantDeletes(participants, owns, [
    rosterIndexRemoval(participants, indexWriter),
    ...(idle ? [(conferenceId: string) => idle.participantLeft(conferenceId)] : []),
  ]);
  idle?.start(idleSweepIntervalMs(config.CONFERENCE_IDLE_TTL));
  void backfillIndexes(
    { conferences: conferenceStore, participants: participantStore, indexes: indexStore },
    indexWriter,
  )
    .then((n) => {
      if (n.conferences + n.legs > 0) logger.info(n, 'index records filled for older state');
    })
    .catch((err: Error) => logger.warn({ err: err.message }, 'index backfill failed'));
  logger.info({ grpcPort: grpcServer.port }, 'focus-controller started');

  return {
    grpcPort: grpcServer.port,
    ready: () => true,
    async stop() {
      dialogs?.stop();
      referrals?.stopSweeping();
      deletes.stop();
      await idle?.stop();
      await membership.stop();
      await edgeLinks.drain(5_000);
      await grpcServer.stop(5_000);
      relayClients.close();
      edges.close();
      focusPeers.close();
      relayLoad.close();
      accessList.close();
    },
  };
}

const tagOf = (value: string | undefined): string => {
  try {
    return parseNameAddr(value ?? '').params.tag ?? '';
  } catch {
    return '';
  }
};
const fromTag = (req: SipRequest) => tagOf(getHeader(req, 'From'));
const cseqOf = (req: SipRequest): number => {
  try {
    return parseCSeq(getHeader(req, 'CSeq') ?? '').seq;
  } catch {
    return -1;
  }
};
const toTag = (res: SipResponse) => tagOf(getHeader(res, 'To'));

/** A 2xx that created a dialog: to an INVITE without a To tag (a re-INVITE's dialog existed before). */
function endsInNewDialog(req: SipRequest, res: SipResponse): boolean {
  return (
    req.method === 'INVITE' && res.status >= 200 && res.status < 300 && tagOf(getHeader(req, 'To')) === ''
  );
}

/** Whether the caller of a gRPC call went away or its deadline passed: a reply now reaches no one. */
function callAbandoned(call: { cancelled: boolean; getDeadline(): Date | number }): boolean {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return call.cancelled || (Number.isFinite(at) && Date.now() >= at);
}

/** Call-ID and conference of a request, for the lines logged while it is handled. */
function requestLogFieldsOf(request: SipRequest): RequestLogFields {
  const target = classifyUri(request.uri);
  return {
    callId: getHeader(request, 'Call-ID'),
    conferenceId: target.kind === 'conference' ? target.conferenceId : undefined,
    method: request.method,
  };
}
