// Wires the edge: SIP transports and the transaction layer in front, each request handed by gRPC to
// the owner of its conference, and SendRequest for the other services' outgoing requests.
import { factoryUri } from '@sip-pubsub/events';
import type { LinkIncomingCall, Member, RunningService, ServiceContext } from '@sip-pubsub/platform';
import {
  asyncUnary,
  type CallLink,
  ChannelCheckedMembership,
  GrpcClientPool,
  type LinkHandler,
  OwnerLinks,
  startGrpcServer,
  unary,
} from '@sip-pubsub/platform';
import {
  BUCKETS,
  contracts,
  type FocusControllerClient,
  type NotifierClient,
  type SendRequestRequest__Output,
  type SendRequestResponse,
  type SendRequestResponse__Output,
  type SipRequestEnvelope,
  type SipResponseEnvelope__Output,
} from '@sip-pubsub/proto';
import {
  answerCancel,
  createCancel,
  createInDialogRequest,
  createResponse,
  DEFAULT_MAX_MESSAGE_SIZE,
  type Destination,
  dialogFromUacResponse,
  type Flow,
  flowFromWire,
  flowToWire,
  generateBranch,
  generateTag,
  getHeader,
  parseCSeq,
  parseMessage,
  removeHeader,
  type ServerTransaction,
  type SipRequest,
  type SipResponse,
  SipTransportError,
  serializeMessage,
  setHeader,
  TransactionLayer,
  type TransportProtocol,
  UdpTransport,
} from '@sip-pubsub/sip';
import { Counter } from 'prom-client';
import { createAuthenticator, EDGE_ALLOW, EdgeAdmission } from './admission.js';
import type { EdgeConfig } from './config.js';
import { consoleRoute } from './console.js';
import { methodLabel, TransactionLatency } from './edge-metrics.js';
import { confirmNonceUse, fromIdentityRefusal } from './identity.js';
import { createIntakeGate, guardTransports } from './intake.js';
import { KvNonceCountStore } from './nonce-counts.js';
import { OwnerAckWatch } from './owner-acks.js';
import {
  consumeOwnRoutes,
  copyRecordRoute,
  createsDialog,
  type EdgeAddress,
  recordRoute,
  removeOwnTopRoutes,
} from './record-route.js';
import { logOwnerRefusal } from './refusal-log.js';
import {
  isOwnerOverloaded,
  isOwnerUnavailable,
  type OwnerService,
  routeCandidates,
  routeRequest,
} from './routing.js';
import { createSipTransports, listeningPorts } from './transports.js';
import { createAckFor2xx, SentAcks } from './uac-ack.js';
import { AcceptedInvites, abandonedInvite, acceptedDialogOf, dialogFailureReporter } from './unacked-2xx.js';
import { originJudge } from './ws-origins.js';

export const EDGE_SERVICE = 'signalling-edge';

/** What the owners accept: they parse forwarded requests with the SIP stack's default limit (64 KiB). */
const OWNER_MAX_MESSAGE_SIZE = DEFAULT_MAX_MESSAGE_SIZE;

export interface RunningEdge extends RunningService {
  sipPort: number;
  /** Bound port of each SIP transport (they differ: SIP_TLS_PORT, SIP_WS_PORT, SIP_WSS_PORT). */
  sipPorts: Partial<Record<TransportProtocol, number>>;
  grpcPort: number;
}

export async function startSignallingEdge(config: EdgeConfig, ctx: ServiceContext): Promise<RunningEdge> {
  const { logger } = ctx;
  const requests = new Counter({
    name: 'sip_pubsub_sip_requests_total',
    help: 'SIP requests answered by the edge, by method and status',
    labelNames: ['method', 'status'],
    registers: [ctx.registry],
  });
  const latency = new TransactionLatency(ctx.registry);
  const invalid = new Counter({
    name: 'sip_pubsub_sip_invalid_messages_total',
    help: 'Messages that did not parse',
    registers: [ctx.registry],
  });
  const outgoing = new Counter({
    name: 'sip_pubsub_sip_outgoing_requests_total',
    help: 'Requests sent for other services, by method and final status',
    labelNames: ['method', 'status'],
    registers: [ctx.registry],
  });

  const followUps = new Counter({
    name: 'sip_pubsub_sip_owner_follow_ups_total',
    help: "Requests an owner handed over with its response on a link (a SUBSCRIBE's first NOTIFY), sent after it",
    labelNames: ['method'],
    registers: [ctx.registry],
  });
  const faults = new Counter({
    name: 'sip_pubsub_sip_transport_faults_total',
    help: 'Socket callbacks and received messages whose handling threw and was contained, by where',
    labelNames: ['where'],
    registers: [ctx.registry],
  });
  const origins = originJudge(config);
  const transports = await createSipTransports(config, origins.accept);
  // Per-source budgets before parsing: a flood costs a byte scan per datagram, not a parse and a transaction.
  guardTransports(transports, createIntakeGate(config), ctx.registry);
  for (const t of transports) {
    t.on('error', (err) => logger.error({ transport: t.protocol, err: err.message }, 'transport error'));
    t.on('fault', (err, where) => {
      faults.inc({ where });
      logger.error({ transport: t.protocol, where, err: err.message, stack: err.stack }, 'transport fault');
    });
    await t.listen();
    // Linux reports twice the bytes it grants, and caps the request at net.core.rmem_max.
    if (t instanceof UdpTransport)
      logger.info({ requested: config.SIP_UDP_RECV_BUFFER, granted: t.recvBufferSize }, 'UDP receive buffer');
  }
  const sipPorts = listeningPorts(transports);
  const sipPort = sipPorts.udp ?? sipPorts.tcp ?? transports[0].address.port;
  ctx.http?.mount(
    consoleRoute({
      domain: config.SIP_DOMAIN,
      factoryUri: factoryUri(config.SIP_DOMAIN),
      wsPort: sipPorts.ws,
      wssPort: sipPorts.wss,
    }),
  );
  if (sipPorts.ws !== undefined || sipPorts.wss !== undefined)
    logger.info({ allowedOrigins: origins.allowed }, 'SIP WebSocket origins allowed');
  // What this edge Record-Routes and recognises in Route headers (record-route.ts).
  const edgeAddress: EdgeAddress = {
    host: config.SIP_ADVERTISE_HOST,
    domain: config.SIP_DOMAIN,
    ports: sipPorts,
  };

  const layer = new TransactionLayer({
    transports,
    via: { host: config.SIP_ADVERTISE_HOST, port: sipPort, ports: sipPorts },
    timers: { T1: config.SIP_T1_MS, T2: config.SIP_T2_MS, T4: config.SIP_T4_MS },
    maxMessageSize: config.SIP_MAX_MESSAGE_SIZE,
  });

  const refused = new Counter({
    name: 'sip_pubsub_sip_refused_requests_total',
    help: 'Requests refused before routing, by cause: rate, inflight, invalid, merged, auth, replay, auth-store, identity',
    labelNames: ['cause'],
    registers: [ctx.registry],
  });
  // Nonce-counts live in KV so a replay through another replica is caught (RFC 7616 §5.6).
  const nonceCounts =
    config.AUTH_REALM === undefined
      ? undefined
      : new KvNonceCountStore(await ctx.kv.bucket(BUCKETS.nonceCounts, { ttlMs: config.AUTH_NONCE_TTL }));
  const authenticator = await createAuthenticator(config, nonceCounts);
  const admission = new EdgeAdmission({
    // The per-source budget is checked before parsing (intake.ts); counting here again would charge twice.
    ratePerSource: null,
    maxInflight: config.SIP_MAX_INFLIGHT,
    auth: authenticator,
    mergeWindowMs: 64 * config.SIP_T1_MS,
  });
  if (authenticator) logger.info({ realm: config.AUTH_REALM }, 'digest authentication on');

  // A link's channel without grpc-js retries: their buffer takes each message at once, so the link would
  // not learn that the stream is still writing the previous one, and could not batch what queues meanwhile.
  const linkChannel = config.OWNER_LINK === 'stream' ? { 'grpc.enable_retries': 0 } : undefined;
  const focusClients = new GrpcClientPool<FocusControllerClient>(contracts.FocusController, linkChannel);
  const notifierClients = new GrpcClientPool<NotifierClient>(contracts.Notifier, linkChannel);
  // One long-lived stream per owner replica carries our HandleRequests and its SendRequests (issue 11).
  // Declared before its handler exists: the links serve SendRequest with the function defined below.
  const linkOptions = () => ({
    calls: { HandleRequest: contracts.FocusController.service.HandleRequest },
    serves: {
      SendRequest: {
        method: contracts.SignallingEdge.service.SendRequest,
        handle: ((req: SendRequestRequest__Output, call: LinkIncomingCall) =>
          sendRequest(req, call)) as LinkHandler,
      },
    },
    logger,
  });
  const ownerLinks: Record<OwnerService, OwnerLinks> = {
    'focus-controller': new OwnerLinks(ctx.instanceId, linkOptions()),
    notifier: new OwnerLinks(ctx.instanceId, linkOptions()),
  };
  let membership: ChannelCheckedMembership | undefined;
  let draining = false;
  const acceptedInvites = new AcceptedInvites(64 * config.SIP_T1_MS);

  /** The owner first, then the replica that takes over if it fails; only replicas we can reach. */
  const ownersOf = (service: OwnerService, key: string): Member[] => {
    const members = membership?.members(service) ?? [];
    return routeCandidates(key, members, (m) => membership?.channelState(service, m));
  };

  /** Sends `res` if the transaction still awaits a final response (a CANCEL may have ended it meanwhile). */
  const respond = (req: SipRequest, tx: ServerTransaction | null, res: SipResponse): boolean => {
    if (!tx || (tx.state !== 'proceeding' && tx.state !== 'trying')) return false;
    requests.inc({ method: methodLabel(req.method), status: String(res.status) });
    latency.answered(req, res.status);
    tx.respond(res);
    return true;
  };
  const answer = (
    req: SipRequest,
    tx: ServerTransaction | null,
    status: number,
    reason: string,
    headers: { name: string; value: string }[] = [],
  ) => {
    // §8.2.6.2: a final response carries a To tag.
    const toTag = status >= 200 ? generateTag() : undefined;
    respond(req, tx, createResponse(req, status, reason, { headers, toTag }));
  };

  /** §9.2: CANCEL is answered hop by hop here: 200, and 487 to its INVITE if that is still pending. */
  const cancel = (req: SipRequest, tx: ServerTransaction | null): void => {
    const outcome = answerCancel(layer, req, tx);
    requests.inc({ method: 'CANCEL', status: outcome === 'no-match' ? '481' : '200' });
    if (outcome === 'cancelled') requests.inc({ method: 'INVITE', status: '487' });
  };

  const handle = async (req: SipRequest, tx: ServerTransaction | null, flow: Flow): Promise<void> => {
    latency.received(req);
    if (draining && req.method !== 'ACK' && req.method !== 'BYE')
      return answer(req, tx, 503, 'Service Draining', [{ name: 'Retry-After', value: '5' }]);
    const admitted = admission.admit(req, flow, tx?.id);
    if (admitted.kind === 'refuse') {
      refused.inc({ cause: admitted.cause });
      if (admitted.cause !== 'invalid')
        logger.info(
          {
            method: methodLabel(req.method),
            callId: getHeader(req, 'Call-ID'),
            from: flow.remoteHost,
            status: admitted.status,
            cause: admitted.cause,
            reason: admitted.reason,
          },
          'request refused',
        );
      return answer(req, tx, admitted.status, admitted.reason, admitted.headers);
    }
    try {
      if (req.method === 'CANCEL') return cancel(req, tx);
      if (authenticator && admitted.username !== undefined) {
        const refusal =
          (await confirmNonceUse(authenticator, admitted)) ??
          identityRefusal(fromIdentityRefusal(req, admitted.username));
        if (refusal) {
          refused.inc({ cause: refusal.cause });
          logger.info(
            { method: req.method, from: flow.remoteHost, user: admitted.username, cause: refusal.cause },
            'authenticated request refused',
          );
          return answer(req, tx, refusal.status, refusal.reason, refusal.headers);
        }
      }
      if (authenticator) {
        // The edge is the trust boundary: only the identity it verified reaches the owners (RFC 3325 §5).
        removeHeader(req, 'P-Asserted-Identity');
        if (admitted.username !== undefined)
          setHeader(req, 'P-Asserted-Identity', `<sip:${admitted.username}@${config.AUTH_REALM}>`);
      }
      await forward(req, tx, flow, admitted.username ?? '');
    } finally {
      admitted.release();
    }
  };

  const identityRefusal = (reason: string | undefined) =>
    reason === undefined ? null : { status: 403, reason, headers: [], cause: 'identity' as const };

  const forward = async (
    req: SipRequest,
    tx: ServerTransaction | null,
    flow: Flow,
    authenticatedIdentity: string,
  ): Promise<void> => {
    // §16.4: the Route naming us is consumed here; the request is then routed by its conference.
    consumeOwnRoutes(req, edgeAddress);
    const route = routeRequest(req.method, req.uri);
    if (route.kind === 'reject') {
      const headers = route.status === 405 ? [{ name: 'Allow', value: EDGE_ALLOW.join(', ') }] : [];
      return answer(req, tx, route.status, route.reason, headers);
    }
    // §16.6: in-dialog requests of the dialog this creates come back through an edge (issue 12).
    const dialogCreating = createsDialog(req);
    if (dialogCreating) recordRoute(req, edgeAddress, flow.transport);
    // The owners parse what we forward with the default size limit; our Via stamp (received, rport) and
    // P-Asserted-Identity can push a request that just fitted past it. Refuse here, with the size, not 500.
    const message = serializeMessage(req);
    if (message.length > OWNER_MAX_MESSAGE_SIZE)
      return answer(
        req,
        tx,
        513,
        `Message Too Large (${message.length} bytes once the edge stamped Via > ${OWNER_MAX_MESSAGE_SIZE})`,
      );
    const owners = ownersOf(route.service, route.key).slice(0, 2);
    if (owners.length === 0) {
      logger.warn({ method: req.method, service: route.service }, 'no ready owner');
      return answer(req, tx, 503, `No ${route.service} Available`, [{ name: 'Retry-After', value: '1' }]);
    }
    const clientOf = (owner: Member) =>
      route.service === 'focus-controller'
        ? focusClients.get(owner.address)
        : notifierClients.get(owner.address);
    let client = clientOf(owners[0]);
    let link: CallLink | undefined;
    const envelope: SipRequestEnvelope = {
      message,
      routingKey: route.key,
      authenticatedIdentity,
      flow: flowToWire({ ...flow, edgeId: ctx.instanceId }),
    };
    let result: SipResponseEnvelope__Output | undefined;
    let servedBy: Member | undefined;
    for (const [attempt, owner] of owners.entries()) {
      client = clientOf(owner);
      // OWNER_LINK=stream: on the replica's long-lived link; unary (the default): one gRPC call each.
      link =
        config.OWNER_LINK === 'stream' ? ownerLinks[route.service].get(owner.address, client) : undefined;
      try {
        result = link
          ? await link.call<SipResponseEnvelope__Output>('HandleRequest', envelope, config.ROUTE_TIMEOUT_MS)
          : await unary<SipRequestEnvelope, SipResponseEnvelope__Output>(
              client,
              'HandleRequest',
              envelope,
              config.ROUTE_TIMEOUT_MS,
            );
        servedBy = owner;
        break;
      } catch (err) {
        const unavailable = isOwnerUnavailable(err);
        logger.warn(
          { method: req.method, owner: owner.id, attempt, err: (err as Error).message },
          unavailable ? 'owner unavailable' : 'owner failed to handle request',
        );
        // A replica that could not serve: once more on the next of the ranking, then 503 (never 500).
        const last = !unavailable || attempt === owners.length - 1;
        if (last) {
          // The caller gets our answer, not the owner's: a join the owner may still complete has no dialog.
          const abandoned =
            route.service === 'focus-controller' ? abandonedInvite(req, route.key) : undefined;
          if (abandoned)
            void reportDialogFailure(abandoned, 'the edge answered the INVITE itself: owner too slow');
        }
        // A replica with a full link sheds load: the caller may retry soon, as for any overload (§21.5.4).
        if (isOwnerOverloaded(err))
          return answer(req, tx, 503, `${route.service} Overloaded`, [{ name: 'Retry-After', value: '1' }]);
        if (!unavailable) return answer(req, tx, 500, 'Server Internal Error');
        if (last)
          return answer(req, tx, 503, `${route.service} Unavailable`, [{ name: 'Retry-After', value: '1' }]);
      }
    }
    if (!result) return;
    // The owner's follow-up (the first NOTIFY of a SUBSCRIBE) leaves once its response has.
    const followUp = result.followUp && result.followUpId > 0 ? { ...result.followUp } : undefined;
    const sendFollowUp = () => {
      if (!followUp || !link) return;
      followUps.inc({
        method: methodLabel(
          /^([A-Z]+) /.exec(followUp.message.subarray(0, 16).toString('latin1'))?.[1] ?? '',
        ),
      });
      link.serveDetached('SendRequest', result.followUpId, followUp, 0);
    };
    if (!tx || result.message.length === 0) return sendFollowUp();
    const response = parseMessage(result.message);
    if (response.kind !== 'response') sendFollowUp();
    if (response.kind !== 'response') return answer(req, tx, 500, 'Server Internal Error');
    logOwnerRefusal(logger, req, response, {
      service: route.service,
      id: servedBy?.id ?? '',
      key: route.key,
    });
    if (dialogCreating) copyRecordRoute(req, response);
    const sent = respond(req, tx, response);
    sendFollowUp();
    if (sent) {
      if (route.service === 'focus-controller') acceptedInvites.note(req, response, route.key);
      return;
    }
    // The INVITE was cancelled while its owner worked on it. Its 2xx created a dialog the caller will never
    // ACK; end it at the owner as a UAC would (§15: ACK, then BYE) so no leg is left behind.
    if (req.method === 'INVITE' && response.status >= 200 && response.status < 300) {
      endCancelledDialog(req, response, client, envelope).catch((err: Error) => {
        logger.warn(
          { callId: response.headers.find((h) => h.name === 'Call-ID')?.value, err: err.message },
          'could not end a cancelled dialog',
        );
        // Its leg must not stay: ask the (then) owner once more, the DialogFailed way.
        const dialog = acceptedDialogOf(req, response, route.key);
        if (dialog && route.service === 'focus-controller')
          void reportDialogFailure(dialog, 'INVITE cancelled before its 2xx');
      });
    }
  };

  const endCancelledDialog = async (
    invite: SipRequest,
    ok: SipResponse,
    client: FocusControllerClient | NotifierClient,
    envelope: SipRequestEnvelope,
  ): Promise<void> => {
    const dialog = dialogFromUacResponse(invite, ok);
    for (const method of ['ACK', 'BYE']) {
      const req = createInDialogRequest(dialog, method);
      const { transport } = flowFromWire(envelope.flow);
      const port = sipPorts[transport] ?? sipPort;
      setHeader(
        req,
        'Via',
        `SIP/2.0/${transport.toUpperCase()} ${config.SIP_ADVERTISE_HOST}:${port};branch=${generateBranch()}`,
      );
      await unary<SipRequestEnvelope, SipResponseEnvelope__Output>(
        client,
        'HandleRequest',
        { ...envelope, message: serializeMessage(req) },
        config.ROUTE_TIMEOUT_MS,
      );
    }
  };

  layer.onRequest = (req, tx, flow) => {
    handle(req, tx, flow).catch((err: Error) => {
      logger.error({ method: req.method, err: err.message }, 'request handling failed');
      try {
        answer(req, tx, 500, 'Server Internal Error');
      } catch (again) {
        logger.error({ method: req.method, err: (again as Error).message }, 'could not answer 500');
      }
    });
  };
  layer.onInvalid = (err, flow) => {
    invalid.inc();
    logger.debug({ from: `${flow.remoteHost}:${flow.remotePort}`, err: err.message }, 'invalid SIP message');
  };
  // ACKs for 2xx to INVITEs sent through SendRequest, repeated while the UAS retransmits (§13.3.1.4).
  const sentAcks = new SentAcks(64 * config.SIP_T1_MS);
  const acknowledge = async (invite: SipRequest, ok: SipResponse, to: Destination): Promise<void> => {
    let ack: SipRequest;
    try {
      ack = createAckFor2xx(invite, ok);
    } catch (err) {
      logger.warn({ callId: getHeader(ok, 'Call-ID'), err: (err as Error).message }, 'cannot ACK a 2xx');
      return;
    }
    // Sent over the INVITE's flow: the peer may be behind NAT, or reachable only on its connection.
    sentAcks.remember(ack, to);
    await layer.sendStateless(ack, to).catch((err: Error) => {
      logger.warn({ callId: getHeader(ok, 'Call-ID'), err: err.message }, 'ACK for a 2xx not sent');
    });
  };
  layer.onStrayResponse = (res) => {
    const sent = sentAcks.forRetransmission(res);
    if (sent) layer.sendStateless(sent.ack, sent.to).catch(() => {});
  };
  // §13.3.1.4: a 2xx never ACKed ends its dialog; the conference's owner sends the BYE and frees the leg.
  const reportDialogFailure = dialogFailureReporter({
    ownerOf: (key) => {
      const owner = ownersOf('focus-controller', key)[0];
      return owner ? focusClients.get(owner.address) : undefined;
    },
    timeoutMs: config.ROUTE_TIMEOUT_MS,
    logger,
  });
  layer.onAckTimeout = (callId, cseq) => {
    logger.warn({ callId, cseq }, 'no ACK for 2xx');
    const dialog = acceptedInvites.take(callId, cseq);
    if (dialog) void reportDialogFailure(dialog, `no ACK for 2xx within 64*T1`);
  };
  layer.onError = (err) => {
    if (/was never answered$/.test(err.message))
      return logger.warn({ err: err.message }, 'request unanswered');
    // A response that cannot be sent (the peer's connection is gone) is the peer's problem, not ours.
    if (err instanceof SipTransportError) return logger.debug({ err: err.message }, 'send failed');
    faults.inc({ where: 'transaction layer' });
    logger.error({ err: err.message, stack: err.stack }, 'transaction layer error');
  };

  const byeAbandoned = async (
    invite: SipRequest,
    ok: SipResponse,
    to: Destination,
    reason = 'SIP ;cause=410 ;text="the requesting service went away"',
  ): Promise<void> => {
    try {
      const bye = createInDialogRequest(dialogFromUacResponse(invite, ok), 'BYE', {
        headers: [{ name: 'Reason', value: reason }],
      });
      removeOwnTopRoutes(bye, edgeAddress);
      logger.warn({ callId: getHeader(ok, 'Call-ID') }, '2xx for an INVITE whose sender is gone: BYE');
      await layer.request(bye, to);
    } catch (err) {
      logger.warn(
        { callId: getHeader(ok, 'Call-ID'), err: (err as Error).message },
        'could not end an abandoned dialog',
      );
    }
  };

  // Dial-out 2xx responses held for their owner's ACK (owner_acks): a 2xx handed to a gRPC call whose
  // caller died before we read the reset reaches nobody, so without that ACK the dialog is ended here.
  const ownerAckTimeoutMs = config.SIP_OWNER_ACK_TIMEOUT_MS || 16 * config.SIP_T1_MS;
  const endUnacknowledged = async (held: { invite: SipRequest; ok: SipResponse; to: Destination }) => {
    logger.warn(
      { callId: getHeader(held.ok, 'Call-ID'), timeoutMs: ownerAckTimeoutMs },
      'no ACK from the owner for the 2xx of its INVITE: the edge ends the dialog',
    );
    await acknowledge(held.invite, held.ok, held.to);
    await byeAbandoned(
      held.invite,
      held.ok,
      held.to,
      `SIP ;cause=408 ;text="the conference focus did not acknowledge the answer within ${ownerAckTimeoutMs} ms"`,
    );
  };
  const ownerAcks = new OwnerAckWatch<{ invite: SipRequest; ok: SipResponse; to: Destination }>({
    timeoutMs: ownerAckTimeoutMs,
    rememberMs: 64 * config.SIP_T1_MS,
    onMissing: (held) => void endUnacknowledged(held),
  });

  /** An owner's ACK for a held 2xx (owner_acks): the §13.2.2.4 ACK leaves now, built from the INVITE we sent. */
  const ownerAck = async (ack: SipRequest): Promise<SendRequestResponse> => {
    let seq: number;
    try {
      seq = parseCSeq(getHeader(ack, 'CSeq') ?? '').seq;
    } catch (err) {
      return { status: 400, reason: `Bad ACK: ${(err as Error).message}`, response: Buffer.alloc(0) };
    }
    const found = ownerAcks.confirm(getHeader(ack, 'Call-ID') ?? '', seq);
    if (found.kind === 'pending') {
      await acknowledge(found.value.invite, found.value.ok, found.value.to);
      return { status: 200, reason: 'ACK Sent', response: Buffer.alloc(0) };
    }
    const reason =
      found.kind === 'given-up'
        ? `Dialog Ended By The Edge (no ACK within ${ownerAckTimeoutMs} ms)`
        : 'No 2xx Awaits This ACK Here';
    return { status: 481, reason, response: Buffer.alloc(0) };
  };

  /** Sends a request as UAC for an owner (SendRequest, unary or on a link) and returns its final response. */
  const sendRequest = async (
    call: SendRequestRequest__Output,
    rpc: { cancelled: boolean; getDeadline(): Date | number },
  ): Promise<SendRequestResponse> => {
    const request = parseMessage(call.message, { allowMissingVia: true });
    if (request.kind !== 'request') throw new Error('SendRequest needs a request');
    if (!call.flow) throw new Error('SendRequest needs a flow');
    const flow = flowFromWire(call.flow);
    // An ACK is sent in no transaction (§17.1.1.3): here only the owner's word for a 2xx we hold.
    if (request.method === 'ACK') return ownerAck(request);
    // The dialog's route set starts with an edge (ours, Record-Routed at its creation): not a hop to send to.
    removeOwnTopRoutes(request, edgeAddress);
    const destination: Destination = {
      transport: flow.transport,
      host: flow.remoteHost,
      port: flow.remotePort,
      connectionId: flow.connectionId,
    };
    const newDialog = createsDialog(request);
    if (newDialog) recordRoute(request, edgeAddress, destination.transport);
    const pending = layer.request(request, destination);
    // timeout_ms: an INVITE still unanswered by then is CANCELled (§9.1); its 487 ends it.
    const cancelTimer =
      request.method === 'INVITE' && call.timeoutMs > 0
        ? setTimeout(() => {
            layer.request(createCancel(request), destination).catch(() => undefined);
          }, call.timeoutMs)
        : undefined;
    const response = await pending.finally(() => clearTimeout(cancelTimer));
    outgoing.inc({ method: methodLabel(request.method), status: String(response.status) });
    // §13.2.2.4: we are the UAC core here, so the 2xx to an INVITE is ours to acknowledge.
    if (request.method === 'INVITE' && response.status >= 200 && response.status < 300) {
      const abandoned = newDialog && rpcAbandoned(rpc);
      // The owner acknowledges this 2xx itself once it has it; until then the edge holds it.
      if (newDialog && call.ownerAcks && !abandoned)
        ownerAcks.expect(
          getHeader(response, 'Call-ID') ?? '',
          parseCSeq(getHeader(request, 'CSeq') ?? '').seq,
          {
            invite: request,
            ok: response,
            to: destination,
          },
        );
      else await acknowledge(request, response, destination);
      // The service that asked is gone (killed, or past its deadline): no one will keep the new
      // dialog, so it is ended at once rather than left up at the peer (§15).
      if (abandoned) await byeAbandoned(request, response, destination);
    }
    // A caller that reads only the status (the notifier's NOTIFYs) is spared a serialisation.
    return {
      status: response.status,
      reason: response.reason,
      response: call.statusOnly ? Buffer.alloc(0) : serializeMessage(response),
    };
  };

  const grpcServer = await startGrpcServer({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    services: [
      {
        definition: contracts.SignallingEdge.service,
        implementation: {
          SendRequest: asyncUnary<SendRequestRequest__Output, SendRequestResponse>(sendRequest, logger),
        },
      },
    ],
  });

  membership = new ChannelCheckedMembership(
    ctx.membership({
      self: {
        id: ctx.instanceId,
        service: EDGE_SERVICE,
        address: `${config.GRPC_ADVERTISE_HOST}:${grpcServer.port}`,
        meta: { sipPort: String(sipPort) },
      },
      watch: ['focus-controller', 'notifier'],
    }),
    { 'focus-controller': focusClients, notifier: notifierClients },
    logger,
  );
  // A replica that left (or whose channel failed) loses its link; the next request opens a new one.
  const checked = membership;
  checked.on('change', (service) => {
    const links = ownerLinks[service as OwnerService];
    if (links) links.retain(new Set(checked.members(service).map((m) => m.address)));
  });
  await membership.start();
  logger.info({ sipPorts, grpcPort: grpcServer.port }, 'signalling-edge started');

  return {
    sipPort,
    sipPorts,
    grpcPort: grpcServer.port,
    ready: () => !draining,
    async stop() {
      draining = true;
      await membership?.stop();
      await grpcServer.stop(5_000);
      // What no owner acknowledged by now it never will: those dialogs end here, before the transports
      // close (their BYEs get a moment, not their whole transaction).
      const held = ownerAcks.drain().map(endUnacknowledged);
      if (held.length > 0)
        await Promise.race([Promise.all(held), new Promise((r) => setTimeout(r, 2_000).unref())]);
      await layer.close();
      for (const t of transports) await t.close();
      ownerLinks['focus-controller'].close();
      ownerLinks.notifier.close();
      focusClients.close();
      notifierClients.close();
    },
  };
}

/** Whether the caller of a gRPC call went away or its deadline passed: a reply now reaches no one. */
function rpcAbandoned(call: { cancelled: boolean; getDeadline(): Date | number }): boolean {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return call.cancelled || (Number.isFinite(at) && Date.now() >= at);
}
