// Wires the focus: gRPC HandleRequest → Focus, relays through membership, state in KV buckets.
import type { RunningService, ServiceContext } from '@sip-pubsub/platform';
import { asyncUnary, GrpcClientPool, JsonBucket, startGrpcServer } from '@sip-pubsub/platform';
import {
  BUCKETS,
  conferenceRecordSchema,
  contracts,
  counterSchema,
  type MediaRelayClient,
  participantRecordSchema,
  type SipRequestEnvelope__Output,
  type SipResponseEnvelope,
  topicRecordSchema,
} from '@sip-pubsub/proto';
import { parseMessage, serializeMessage } from '@sip-pubsub/sip';
import type { FocusConfig } from './config.js';
import { Focus } from './focus.js';
import { GrpcRelayDirectory, RELAY_SERVICE, RelayLoadView } from './relays.js';

export const FOCUS_SERVICE = 'focus-controller';

export async function startFocusController(
  config: FocusConfig,
  ctx: ServiceContext,
): Promise<RunningService & { grpcPort: number }> {
  const { logger } = ctx;
  const [conferences, topics, participants, counters] = await Promise.all([
    ctx.kv.bucket(BUCKETS.conferences),
    ctx.kv.bucket(BUCKETS.topics),
    ctx.kv.bucket(BUCKETS.participants),
    ctx.kv.bucket(BUCKETS.counters),
  ]);
  const relayClients = new GrpcClientPool<MediaRelayClient>(contracts.MediaRelay);
  // The handler needs the focus, which needs membership, which needs our bound gRPC port.
  let focus: Focus | undefined;
  const grpcServer = await startGrpcServer({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    services: [
      {
        definition: contracts.FocusController.service,
        implementation: {
          HandleRequest: asyncUnary<SipRequestEnvelope__Output, SipResponseEnvelope>(async (envelope) => {
            if (!focus) throw new Error('focus-controller is starting');
            const request = parseMessage(envelope.message);
            if (request.kind !== 'request') throw new Error('edge sent a response to HandleRequest');
            const flow = envelope.flow;
            const response = await focus.handle(request, {
              transport: flow?.transport ?? 'udp',
              remoteHost: flow?.remoteHost ?? '',
              remotePort: flow?.remotePort ?? 0,
              connectionId: flow?.connectionId || undefined,
              edgeId: flow?.edgeId || undefined,
            });
            return { message: response ? serializeMessage(response) : Buffer.alloc(0) };
          }, logger),
        },
      },
    ],
  });
  const membership = ctx.membership({
    self: {
      id: ctx.instanceId,
      service: FOCUS_SERVICE,
      address: `${config.GRPC_ADVERTISE_HOST}:${grpcServer.port}`,
      meta: {},
    },
    watch: [RELAY_SERVICE],
  });

  const relayLoad = new RelayLoadView().follow(ctx.bus);
  focus = new Focus({
    domain: config.SIP_DOMAIN,
    onExistingTopic: config.FACTORY_ON_EXISTING_TOPIC,
    invalidData: config.INVALID_DATA_POLICY,
    maxConferences: config.MAX_CONFERENCES,
    maxLegsPerConference: config.MAX_LEGS_PER_CONFERENCE,
    stores: {
      conferences: new JsonBucket(conferences, conferenceRecordSchema),
      topics: new JsonBucket(topics, topicRecordSchema),
      participants: new JsonBucket(participants, participantRecordSchema),
      counters: new JsonBucket(counters, counterSchema),
    },
    bus: ctx.bus,
    relays: new GrpcRelayDirectory(membership, relayClients, config.RELAY_RPC_TIMEOUT_MS, {
      load: relayLoad,
      legsPerRelay: config.RELAY_SPREAD_LEGS,
    }),
    logger,
    mediaHost: config.MEDIA_HOST,
  });

  await membership.start();
  logger.info({ grpcPort: grpcServer.port }, 'focus-controller started');

  return {
    grpcPort: grpcServer.port,
    ready: () => true,
    async stop() {
      await membership.stop();
      await grpcServer.stop(5_000);
      relayClients.close();
      relayLoad.close();
    },
  };
}
