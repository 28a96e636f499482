// Wires the relay: gRPC leg management, one UDP socket per leg, the relay core in between, and the
// conference's NATS subject for publications received on other relays.
import * as dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import type { BusSubscription, RunningService, ServiceContext } from '@sip-pubsub/platform';
import { asyncUnary, JsonBucket, startGrpcServer } from '@sip-pubsub/platform';
import {
  BUCKETS,
  contracts,
  decodeEvent,
  encodeEvent,
  type LegAllocation,
  type LegClosed,
  type LegSource,
  type LegSpec__Output,
  legClosedSchema,
  legSourceSchema,
  MEDIA_HEADER_LEG,
  MEDIA_HEADER_RECEIVED_AT,
  MEDIA_HEADER_RED_PT,
  MEDIA_HEADER_RELAY,
  MEDIA_HEADER_T140_PT,
  MEDIA_READER_INTERVAL_MS,
  mediaHostSchema,
  mediaReaderSchema,
  type RelayLoad,
  type ReleaseLegRequest__Output,
  type ReleaseLegResponse,
  relayLoadSchema,
  retainedValuesSchema,
  type StatsResponse,
  subjects,
} from '@sip-pubsub/proto';
import { Counter, Gauge } from 'prom-client';
import { boundedSender } from './bounded-send.js';
import type { RelayConfig } from './config.js';
import { MediaSharing } from './media-sharing.js';
import { registerPortGauges } from './port-metrics.js';
import { PortPool } from './port-pool.js';
import { type ForwardingMode, Leg, type LegCloseReason, type LegOptions, RelayCore } from './relay.js';
import { relayCounters } from './relay-metrics.js';
import { RetainedGreeter } from './retained-greeting.js';
import { TopicMetrics } from './topic-metrics.js';

export const RELAY_SERVICE = 'media-relay';

function legOptions(spec: LegSpec__Output): LegOptions {
  return {
    conferenceId: spec.conferenceId,
    legId: spec.legId,
    publishes: spec.publishes,
    subscribes: spec.subscribes,
    remoteHost: spec.remoteHost,
    remotePort: spec.remotePort,
    t140Pt: spec.t140Pt,
    redPt: spec.redPt,
    invalidData: spec.invalidData === 'INVALID_DATA_POLICY_FORWARD' ? 'forward' : 'drop',
    mode: MODES[spec.mode] ?? 'translate',
    redundancy: spec.redundancy || 2,
    aggregateWindowMs: spec.aggregateWindowMs,
    rtcpMux: spec.rtcpMux,
  };
}

const MODES: Record<string, ForwardingMode> = {
  FORWARDING_MODE_TRANSLATE: 'translate',
  FORWARDING_MODE_MIX: 'mix',
  FORWARDING_MODE_AGGREGATE: 'aggregate',
};

export async function startMediaRelay(
  config: RelayConfig,
  ctx: ServiceContext,
): Promise<RunningService & { grpcPort: number }> {
  const { logger, bus, registry } = ctx;
  const relayId = ctx.instanceId;
  let core: RelayCore;
  const topics = new TopicMetrics(registry, config.RELAY_METRICS_TOP_TOPICS, () => {
    const out = new Map<string, { legs: number }>();
    for (const [id, legs] of core.conferenceLegs()) out.set(id, { legs: legs.length });
    return out;
  });
  const topic = (id: string) => topics.topic(id);
  const counters = relayCounters(registry, topics);
  const legsGauge = new Gauge({
    name: 'sip_pubsub_relay_legs',
    help: 'Legs hosted by this relay',
    registers: [registry],
  });

  // Late joiners get the retained values first (PROFILE "PUBLISH"); they are in KV, written by the notifier.
  const greeter = new RetainedGreeter({
    retained: new JsonBucket(await ctx.kv.bucket(BUCKETS.publications), retainedValuesSchema),
    maxPackBytes: config.MAX_SENML_PACK_BYTES,
    deliver: (leg, packets) => core.greet(leg, packets),
    onError: (conferenceId, err) =>
      logger.warn({ conferenceId, err: err.message }, 'retained values not read; leg joins without them'),
  });
  // A publication goes on the bus only while another relay hosting its conference, or a notifier reading
  // every stream, is there to read it (media-sharing.ts).
  const sharing = new MediaSharing({ self: relayId, readerTtlMs: 3 * MEDIA_READER_INTERVAL_MS });
  const readers = bus.subscribe(subjects.mediaReaders, (msg) => {
    const decoded = decodeEvent(mediaReaderSchema, msg.data);
    if (decoded.ok) sharing.onReader(decoded.value);
  });
  // Readers already reading answer at once, so this relay does not wait for their next period.
  bus.publish(
    subjects.mediaReaders,
    encodeEvent(mediaReaderSchema, { readerId: relayId, reading: false, ask: true }),
  );
  const sayLegSource = (conferenceId: string, legId: string, ssrc: number) => {
    const event: LegSource = { relayId, conferenceId, legId, ssrc, at: Date.now() };
    try {
      bus.publish(subjects.legSource(relayId), encodeEvent(legSourceSchema, event));
    } catch (err) {
      logger.warn({ conferenceId, legId, err: (err as Error).message }, 'could not publish a leg source');
    }
  };
  core = new RelayCore({
    latching: config.RELAY_LATCHING,
    natTraversal: config.RELAY_NAT_TRAVERSAL,
    onFirstDrop: (drop) =>
      logger.info(
        {
          conferenceId: drop.conferenceId,
          legId: drop.legId,
          reason: drop.reason,
          negotiated: drop.negotiated,
          seen: drop.seen,
        },
        'first datagram dropped on a leg',
      ),
    maxPackBytes: config.MAX_SENML_PACK_BYTES,
    counters,
    cname: `media-relay@${relayId}`,
    consentTimeoutMs: config.RELAY_CONSENT_TIMEOUT_MS,
    maxLineLength: config.MAX_SENML_PACK_BYTES,
    onSource: sayLegSource,
    share: (conferenceId, legId, packet, receivedAt, pts) => {
      greeter.observe(conferenceId, legId, packet, pts);
      if (!sharing.wanted(conferenceId)) return;
      bus.publish(subjects.media(conferenceId), packet, {
        [MEDIA_HEADER_RELAY]: relayId,
        [MEDIA_HEADER_LEG]: legId,
        [MEDIA_HEADER_RECEIVED_AT]: String(receivedAt),
        [MEDIA_HEADER_T140_PT]: String(pts.t140Pt),
        ...(pts.redPt !== undefined ? { [MEDIA_HEADER_RED_PT]: String(pts.redPt) } : {}),
      });
    },
  });
  // One timer for all mix and aggregate legs, armed for the earliest due time.
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Number.POSITIVE_INFINITY;
  const arm = () => {
    const due = core.nextDueAt();
    if (due === undefined || due >= timerAt) return;
    if (timer) clearTimeout(timer);
    timerAt = due;
    timer = setTimeout(
      () => {
        timer = undefined;
        timerAt = Number.POSITIVE_INFINITY;
        core.tick();
        arm();
      },
      Math.max(0, due - Date.now()),
    );
  };
  const legLimits = {
    packetsPerSecond: config.RELAY_MAX_PACKETS_PER_SECOND_PER_LEG,
    mixBufferMs: config.RELAY_MIX_BUFFER_MS,
    maxHeldBytes: config.RELAY_MAX_HELD_BYTES_PER_LEG,
    maxQueuedBytes: config.RELAY_MAX_QUEUED_BYTES_PER_LEG,
    // A line longer than a pack may be is invalid whatever follows (UTF-16 units never exceed UTF-8 bytes).
    maxLineLength: config.MAX_SENML_PACK_BYTES,
  };
  const rtcpTimer = setInterval(() => core.sendReports(), config.RELAY_RTCP_INTERVAL_MS);
  rtcpTimer.unref();
  const publishLoad = () => {
    const rates = topics.sample();
    const report: RelayLoad = {
      relayId,
      at: Date.now(),
      intervalMs: config.RELAY_LOAD_INTERVAL_MS,
      legs: core.legCount,
      conferences: [...core.conferenceLegs()].map(([conferenceId, legs]) => ({
        conferenceId,
        legs: legs.length,
        publisherLegs: legs.filter((l) => l.options.publishes).length,
        subscriberLegs: legs.filter((l) => l.options.subscribes).length,
        packetsPerSecond: Math.max(0, rates.get(conferenceId) ?? 0),
      })),
    };
    bus.publish(subjects.load(relayId), encodeEvent(relayLoadSchema, report));
  };
  const loadTimer = setInterval(publishLoad, config.RELAY_LOAD_INTERVAL_MS);
  loadTimer.unref();
  const ports = new PortPool(config.RELAY_PORT_MIN, config.RELAY_PORT_MAX);
  registerPortGauges(registry, ports, config.RELAY_PORT_MIN, config.RELAY_PORT_MAX);

  // The conference's subjects, held by the conference: it leaves them when its last leg here goes. On the
  // hosts subject it says it hosts the conference (and, leaving, that it no longer does).
  const subscribeMedia = (conferenceId: string): BusSubscription => {
    const media = subscribeStream(conferenceId);
    const hostsSubject = subjects.mediaHosts(conferenceId);
    const hosts = bus.subscribe(hostsSubject, (msg) => {
      const decoded = decodeEvent(mediaHostSchema, msg.data);
      if (!decoded.ok) return;
      const answer = sharing.onHost(conferenceId, decoded.value);
      if (answer) bus.publish(hostsSubject, encodeEvent(mediaHostSchema, answer));
    });
    bus.publish(hostsSubject, encodeEvent(mediaHostSchema, sharing.opened(conferenceId)));
    return {
      unsubscribe() {
        media.unsubscribe();
        hosts.unsubscribe();
        try {
          bus.publish(hostsSubject, encodeEvent(mediaHostSchema, sharing.closed(conferenceId)));
        } catch {
          // The bus is closing with the relay: the others learn of it from membership.
        }
      },
    };
  };
  const subscribeStream = (conferenceId: string): BusSubscription =>
    bus.subscribe(subjects.media(conferenceId), (msg) => {
      if (msg.headers[MEDIA_HEADER_RELAY] === relayId) return;
      const receivedAt = Number(msg.headers[MEDIA_HEADER_RECEIVED_AT]);
      const t140Pt = Number(msg.headers[MEDIA_HEADER_T140_PT]);
      const redPt = Number(msg.headers[MEDIA_HEADER_RED_PT]);
      if (!isPayloadType(t140Pt)) {
        logger.warn({ conferenceId, subject: msg.subject }, 'ignored a shared packet without payload types');
        return;
      }
      greeter.observe(conferenceId, msg.headers[MEDIA_HEADER_LEG] ?? '', msg.data, {
        t140Pt,
        redPt: isPayloadType(redPt) ? redPt : undefined,
      });
      core.onShared(
        conferenceId,
        msg.headers[MEDIA_HEADER_LEG] ?? '',
        msg.data,
        Number.isFinite(receivedAt) ? receivedAt : Date.now(),
        { t140Pt, redPt: isPayloadType(redPt) ? redPt : undefined },
      );
      arm();
    });

  const bindSocket = (port: number): Promise<dgram.Socket | null> =>
    new Promise((resolve) => {
      const socket = dgram.createSocket({
        type: config.RELAY_HOST.includes(':') ? 'udp6' : 'udp4',
        lookup: literalLookup,
      });
      const onError = () => {
        socket.close();
        resolve(null);
      };
      socket.once('error', onError);
      socket.bind(port, config.RELAY_HOST, () => {
        socket.off('error', onError);
        resolve(socket);
      });
    });

  // Allocations under way by leg id: a retried AllocateLeg joins the first instead of taking a second port.
  const allocating = new Map<string, Promise<LegAllocation>>();
  /** Legs released while their allocation was still under way: released as soon as it completes. */
  const releasedEarly = new Set<string>();
  const allocate = (spec: LegSpec__Output): Promise<LegAllocation> => {
    const pending = allocating.get(spec.legId);
    if (pending) return pending;
    const run = allocateOnce(spec)
      .then((allocation) => {
        if (!releasedEarly.delete(spec.legId)) return allocation;
        release(spec.conferenceId, spec.legId);
        throw new Error(`leg ${spec.legId} was released while it was being allocated`);
      })
      .finally(() => {
        allocating.delete(spec.legId);
        releasedEarly.delete(spec.legId);
      });
    allocating.set(spec.legId, run);
    return run;
  };
  const allocateOnce = async (spec: LegSpec__Output): Promise<LegAllocation> => {
    if (!spec.conferenceId || !spec.legId) throw new Error('AllocateLeg needs conferenceId and legId');
    const existing = core.getLeg(spec.legId);
    if (existing) {
      existing.configure(legOptions(spec), config.RELAY_MIX_BUFFER_MS);
      core.retarget(existing, spec.remoteHost, spec.remotePort);
      return { legId: spec.legId, relayId, host: config.RELAY_ADVERTISE_HOST, port: existing.localPort };
    }
    let socket: dgram.Socket | null = null;
    const port = await ports.acquire(async (p) => {
      socket = await bindSocket(p);
      return socket !== null;
    }, spec.legId);
    const bound = socket as unknown as dgram.Socket;
    try {
      return await setUpLeg(spec, port, bound);
    } catch (err) {
      // Whatever failed midway, the port and its socket go back.
      bound.close();
      ports.release(port, spec.legId);
      const leg = core.getLeg(spec.legId);
      if (leg?.localPort === port) core.removeLeg(spec.legId);
      throw err;
    }
  };
  const setUpLeg = async (
    spec: LegSpec__Output,
    port: number,
    bound: dgram.Socket,
  ): Promise<LegAllocation> => {
    // The leg owns its socket and port from here: closing it closes the one and releases the other.
    let closed = false;
    const leg = new Leg(
      legOptions(spec),
      port,
      {
        send: boundedSender(bound, config.RELAY_MAX_SEND_QUEUE_BYTES_PER_LEG, () =>
          counters.dropped('send-queue-full'),
        ),
        close: () => {
          if (closed) return;
          closed = true;
          bound.close();
          ports.release(port, spec.legId);
        },
      },
      legLimits,
    );
    let reported = false;
    bound.on('message', (data, rinfo) => {
      try {
        core.onDatagram(leg, data, rinfo.address, rinfo.port);
      } catch (err) {
        // A bug on one packet must not take down every topic this relay serves; say so once per leg.
        counters.dropped('malformed');
        if (!reported) {
          reported = true;
          logger.error(
            { conferenceId: spec.conferenceId, legId: spec.legId, err: (err as Error).message },
            'datagram handling failed',
          );
        }
      }
      arm();
    });
    bound.on('error', (err) =>
      logger.warn(
        { conferenceId: spec.conferenceId, legId: spec.legId, err: err.message },
        'RTP socket error',
      ),
    );
    // Join the topic's stream before reading retained values, so what races the read is seen. The
    // conference stays open (and subscribed) while this allocation is under way, even if it has no leg.
    const conference = core.openConference(spec.conferenceId);
    try {
      conference.subscribe(() => subscribeMedia(spec.conferenceId));
      // Late joiners get the retained values first; a leg moved here by failover already had them.
      if (spec.resumes) core.addLeg(leg);
      else await greeter.greet(leg, () => core.addLeg(leg));
    } finally {
      core.settleConference(spec.conferenceId);
      if (!core.hasConference(spec.conferenceId)) topics.forget(spec.conferenceId);
    }
    legsGauge.set(core.legCount);
    logger.info(
      {
        conferenceId: spec.conferenceId,
        legId: spec.legId,
        port,
        publishes: spec.publishes,
        subscribes: spec.subscribes,
      },
      'leg allocated',
    );
    return { legId: spec.legId, relayId, host: config.RELAY_ADVERTISE_HOST, port };
  };

  const release = (conferenceId: string, legId: string): boolean => {
    const leg = core.getLeg(legId);
    if (!leg) {
      if (!allocating.has(legId)) return false;
      releasedEarly.add(legId);
      return true;
    }
    // Closes the leg (socket, port); the last leg of the conference closes it too (its subscription).
    core.removeLeg(legId);
    if (!core.hasConference(conferenceId)) topics.forget(conferenceId);
    legsGauge.set(core.legCount);
    logger.info({ conferenceId, legId }, 'leg released');
    return true;
  };

  // Legs whose peer went quiet (or never spoke) are closed here and the focus is told, so it can end
  // the dialog (BYE, roster) the relay cannot see.
  const legsClosed = new Counter({
    name: 'sip_pubsub_relay_legs_closed_total',
    help: 'Legs the relay closed on its own, by reason (silent: consent lapsed; no-consent: never given)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const closeSilentLegs = () => {
    for (const { leg, reason } of core.silentLegs(config.RELAY_LEG_SILENCE_TIMEOUT_MS))
      closeLeg(leg.options.conferenceId, leg.options.legId, reason);
  };
  const closeLeg = (conferenceId: string, legId: string, reason: LegCloseReason) => {
    if (!release(conferenceId, legId)) return;
    legsClosed.inc({ reason });
    const event: LegClosed = { relayId, conferenceId, legId, reason, at: Date.now() };
    logger.info({ conferenceId, legId, reason }, 'closed a leg without media');
    try {
      bus.publish(subjects.legClosed(relayId), encodeEvent(legClosedSchema, event));
    } catch (err) {
      logger.warn({ conferenceId, legId, err: (err as Error).message }, 'could not publish leg closed');
    }
  };
  const silenceTimer =
    config.RELAY_LEG_SILENCE_TIMEOUT_MS > 0
      ? setInterval(closeSilentLegs, Math.min(5_000, Math.max(250, config.RELAY_LEG_SILENCE_TIMEOUT_MS / 4)))
      : undefined;
  silenceTimer?.unref();

  const grpcServer = await startGrpcServer({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    services: [
      {
        definition: contracts.MediaRelay.service,
        implementation: {
          AllocateLeg: asyncUnary<LegSpec__Output, LegAllocation>(allocate, logger),
          UpdateLeg: asyncUnary<LegSpec__Output, LegAllocation>(async (spec) => {
            const leg = core.getLeg(spec.legId);
            if (!leg) throw new Error(`unknown leg ${spec.legId}`);
            leg.configure(legOptions(spec), config.RELAY_MIX_BUFFER_MS);
            core.retarget(leg, spec.remoteHost, spec.remotePort);
            return { legId: spec.legId, relayId, host: config.RELAY_ADVERTISE_HOST, port: leg.localPort };
          }, logger),
          ReleaseLeg: asyncUnary<ReleaseLegRequest__Output, ReleaseLegResponse>(
            async (req) => ({ released: release(req.conferenceId, req.legId) }),
            logger,
          ),
          Stats: asyncUnary<object, StatsResponse>(async () => {
            const legsByConference = core.conferenceLegs();
            return {
              relayId,
              legs: core.legCount,
              topics: [...legsByConference].map(([conferenceId, legs]) => {
                const t = topic(conferenceId);
                return {
                  conferenceId,
                  legs: legs.length,
                  publisherLegs: legs.filter((l) => l.options.publishes).length,
                  subscriberLegs: legs.filter((l) => l.options.subscribes).length,
                  publicationsIn: String(t.publicationsIn),
                  deliveriesOut: String(t.deliveriesOut),
                  bytesOut: String(t.bytesOut),
                  invalid: String(t.invalid),
                  lost: String(t.lost),
                  recovered: String(t.recovered),
                };
              }),
            };
          }, logger),
        },
      },
    ],
  });

  const membership = ctx.membership({
    self: {
      id: relayId,
      service: RELAY_SERVICE,
      address: `${config.GRPC_ADVERTISE_HOST}:${grpcServer.port}`,
      meta: { rtpHost: config.RELAY_ADVERTISE_HOST },
    },
    watch: [RELAY_SERVICE],
  });
  // A relay that left (crashed without saying it closed its conferences) reads nothing any more. Only a
  // departure counts: one not seen yet (its first heartbeat still on its way) may well host a conference.
  let relaysSeen = new Set<string>();
  membership.on('change', (service) => {
    if (service !== RELAY_SERVICE) return;
    const present = new Set(membership.members(RELAY_SERVICE).map((m) => m.id));
    const departed = [...relaysSeen].filter((id) => !present.has(id));
    relaysSeen = present;
    if (departed.length > 0) sharing.forgetRelays(departed);
  });
  await membership.start();
  logger.info(
    { grpcPort: grpcServer.port, ports: `${config.RELAY_PORT_MIN}-${config.RELAY_PORT_MAX}` },
    'media-relay started',
  );

  return {
    grpcPort: grpcServer.port,
    ready: () => true,
    async stop() {
      clearInterval(rtcpTimer);
      clearInterval(loadTimer);
      if (silenceTimer) clearInterval(silenceTimer);
      if (timer) clearTimeout(timer);
      await membership.stop();
      await grpcServer.stop(5_000);
      // Conferences close in cascade: their legs (sockets, ports) and their subscriptions.
      core.close();
      readers.unsubscribe();
      legsGauge.set(core.legCount);
    },
  };
}

/** A dynamic or static RTP payload type number (RFC 3551). */
function isPayloadType(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 127;
}

/**
 * dgram's address lookup for sends: an IP literal (every leg's target is one, from SDP or a latched
 * source) is answered at once, so a send goes out in the same turn instead of after a dns.lookup tick;
 * a name still goes through dns.lookup.
 */
function literalLookup(
  address: string,
  family: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const kind = isIP(address);
  if (kind !== 0) {
    callback(null, address, kind);
    return;
  }
  dnsLookup(address, { family: family === 6 || family === 'udp6' ? 6 : 4 }, (err, a, f) =>
    callback(err, a, f),
  );
}
