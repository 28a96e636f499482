// Wires the edge: SIP transports and the transaction layer in front, each request handed by gRPC to
// the owner of its conference, and SendRequest for the other services' outgoing requests.
import type { Member, RunningService, ServiceContext } from '@sip-pubsub/platform';
import {
  asyncUnary,
  GrpcClientPool,
  type Membership,
  rendezvousOwner,
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
  type SipRequestEnvelope,
  type SipResponseEnvelope__Output,
} from '@sip-pubsub/proto';
import {
  answerCancel,
  createInDialogRequest,
  createResponse,
  type Destination,
  dialogFromUacResponse,
  type Flow,
  generateBranch,
  generateTag,
  getHeader,
  parseMessage,
  removeHeader,
  type ServerTransaction,
  type SipRequest,
  type SipResponse,
  serializeMessage,
  setHeader,
  TransactionLayer,
  type TransportProtocol,
} from '@sip-pubsub/sip';
import { Counter } from 'prom-client';
import { createAuthenticator, EDGE_ALLOW, EdgeAdmission } from './admission.js';
import type { EdgeConfig } from './config.js';
import { methodLabel, TransactionLatency } from './edge-metrics.js';
import { confirmNonceUse, fromIdentityRefusal } from './identity.js';
import { KvNonceCountStore } from './nonce-counts.js';
import { logOwnerRefusal } from './refusal-log.js';
import { type OwnerService, routeRequest } from './routing.js';
import { createSipTransports, listeningPorts } from './transports.js';
import { createAckFor2xx, SentAcks } from './uac-ack.js';

export const EDGE_SERVICE = 'signalling-edge';

export interface RunningEdge extends RunningService {
  sipPort: number;
  /** Bound port of each SIP transport (they differ: SIP_TLS_PORT, SIP_WS_PORT, SIP_WSS_PORT). */
  sipPorts: Partial<Record<TransportProtocol, number>>;
  grpcPort: number;
}

export async function startSignallingEdge(config: EdgeConfig, ctx: ServiceContext): Promise<RunningEdge> {
  const { logger } = ctx;
  const requests = new Counter({
    name: 'sip_requests_total',
    help: 'SIP requests answered by the edge, by method and status',
    labelNames: ['method', 'status'],
    registers: [ctx.registry],
  });
  const latency = new TransactionLatency(ctx.registry);
  const invalid = new Counter({
    name: 'sip_invalid_messages_total',
    help: 'Messages that did not parse',
    registers: [ctx.registry],
  });
  const outgoing = new Counter({
    name: 'sip_outgoing_requests_total',
    help: 'Requests sent for other services, by method and final status',
    labelNames: ['method', 'status'],
    registers: [ctx.registry],
  });

  const transports = await createSipTransports(config);
  for (const t of transports) {
    t.on('error', (err) => logger.error({ transport: t.protocol, err: err.message }, 'transport error'));
    await t.listen();
  }
  const sipPorts = listeningPorts(transports);
  const sipPort = sipPorts.udp ?? sipPorts.tcp ?? transports[0].address.port;

  const layer = new TransactionLayer({
    transports,
    via: { host: config.SIP_ADVERTISE_HOST, port: sipPort, ports: sipPorts },
    timers: { T1: config.SIP_T1_MS, T2: config.SIP_T2_MS, T4: config.SIP_T4_MS },
    maxMessageSize: config.SIP_MAX_MESSAGE_SIZE,
  });

  const refused = new Counter({
    name: 'sip_refused_requests_total',
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
    ratePerSource: config.SIP_RATE_PER_SOURCE,
    maxInflight: config.SIP_MAX_INFLIGHT,
    auth: authenticator,
    mergeWindowMs: 64 * config.SIP_T1_MS,
  });
  if (authenticator) logger.info({ realm: config.AUTH_REALM }, 'digest authentication on');

  const focusClients = new GrpcClientPool<FocusControllerClient>(contracts.FocusController);
  const notifierClients = new GrpcClientPool<NotifierClient>(contracts.Notifier);
  let membership: Membership | undefined;
  let draining = false;

  const ownerOf = (service: OwnerService, key: string): Member | undefined => {
    const members = membership?.members(service) ?? [];
    const id = rendezvousOwner(
      key,
      members.map((m) => m.id),
    );
    return members.find((m) => m.id === id);
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
    const route = routeRequest(req.method, req.uri);
    if (route.kind === 'reject') {
      const headers = route.status === 405 ? [{ name: 'Allow', value: EDGE_ALLOW.join(', ') }] : [];
      return answer(req, tx, route.status, route.reason, headers);
    }
    const owner = ownerOf(route.service, route.key);
    if (!owner) {
      logger.warn({ method: req.method, service: route.service }, 'no ready owner');
      return answer(req, tx, 503, `No ${route.service} Available`, [{ name: 'Retry-After', value: '5' }]);
    }
    const client =
      route.service === 'focus-controller'
        ? focusClients.get(owner.address)
        : notifierClients.get(owner.address);
    const envelope: SipRequestEnvelope = {
      message: serializeMessage(req),
      routingKey: route.key,
      authenticatedIdentity,
      flow: {
        transport: flow.transport,
        remoteHost: flow.remoteHost,
        remotePort: flow.remotePort,
        localHost: flow.localHost,
        localPort: flow.localPort,
        connectionId: flow.connectionId ?? '',
        edgeId: ctx.instanceId,
      },
    };
    let result: SipResponseEnvelope__Output;
    try {
      result = await unary<SipRequestEnvelope, SipResponseEnvelope__Output>(
        client,
        'HandleRequest',
        envelope,
        config.ROUTE_TIMEOUT_MS,
      );
    } catch (err) {
      logger.error(
        { method: req.method, owner: owner.id, err: (err as Error).message },
        'owner failed to handle request',
      );
      return answer(req, tx, 500, 'Server Internal Error');
    }
    if (!tx || result.message.length === 0) return;
    const response = parseMessage(result.message);
    if (response.kind !== 'response') return answer(req, tx, 500, 'Server Internal Error');
    logOwnerRefusal(logger, req, response, { service: route.service, id: owner.id, key: route.key });
    if (respond(req, tx, response)) return;
    // The INVITE was cancelled while its owner worked on it. Its 2xx created a dialog the caller will never
    // ACK; end it at the owner as a UAC would (§15: ACK, then BYE) so no leg is left behind.
    if (req.method === 'INVITE' && response.status >= 200 && response.status < 300) {
      endCancelledDialog(req, response, client, envelope).catch((err: Error) =>
        logger.warn(
          { callId: response.headers.find((h) => h.name === 'Call-ID')?.value, err: err.message },
          'could not end a cancelled dialog',
        ),
      );
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
      const transport = (envelope.flow?.transport || 'udp') as TransportProtocol;
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
  layer.onAckTimeout = (callId, cseq) => logger.warn({ callId, cseq }, 'no ACK for 2xx');

  const grpcServer = await startGrpcServer({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    services: [
      {
        definition: contracts.SignallingEdge.service,
        implementation: {
          SendRequest: asyncUnary<SendRequestRequest__Output, SendRequestResponse>(async (call) => {
            const request = parseMessage(call.message, { allowMissingVia: true });
            if (request.kind !== 'request') throw new Error('SendRequest needs a request');
            const flow = call.flow;
            if (!flow) throw new Error('SendRequest needs a flow');
            const destination = {
              transport: (flow.transport || 'udp') as TransportProtocol,
              host: flow.remoteHost,
              port: flow.remotePort,
              connectionId: flow.connectionId || undefined,
            };
            const response = await layer.request(request, destination);
            outgoing.inc({ method: methodLabel(request.method), status: String(response.status) });
            // §13.2.2.4: we are the UAC core here, so the 2xx to an INVITE is ours to acknowledge.
            if (request.method === 'INVITE' && response.status >= 200 && response.status < 300)
              await acknowledge(request, response, destination);
            return { status: response.status, reason: response.reason, response: serializeMessage(response) };
          }, logger),
        },
      },
    ],
  });

  membership = ctx.membership({
    self: {
      id: ctx.instanceId,
      service: EDGE_SERVICE,
      address: `${config.GRPC_ADVERTISE_HOST}:${grpcServer.port}`,
      meta: { sipPort: String(sipPort) },
    },
    watch: ['focus-controller', 'notifier'],
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
      await layer.close();
      for (const t of transports) await t.close();
      focusClients.close();
      notifierClients.close();
    },
  };
}
