// The embedded broker: the four services in one process, each with its own gRPC server on loopback,
// sharing an in-process bus and KV store (or NATS when NATS_URL is set). The only place that composes services.
import * as os from 'node:os';
import { focusConfigSchema, startFocusController } from '@sip-pubsub/focus-controller';
import { relayConfigSchema, startMediaRelay } from '@sip-pubsub/media-relay';
import { notifierConfigSchema, startNotifier } from '@sip-pubsub/notifier';
import type { Bus, KvStore, Logger, RunningService } from '@sip-pubsub/platform';
import {
  connectNats,
  connectNatsBus,
  createLogger,
  createRegistry,
  HealthServer,
  InProcessBus,
  InProcessKvStore,
  loadConfig,
  membershipFactory,
  natsKvStore,
  serviceLogger,
} from '@sip-pubsub/platform';
import { edgeConfigSchema, type RunningEdge, startSignallingEdge } from '@sip-pubsub/signalling-edge';
import { type EmbeddedConfig, embeddedConfigSchema } from './config.js';

export interface EmbeddedBroker {
  config: EmbeddedConfig;
  sipPort: number;
  /** Bound port of each SIP transport the edge listens on (SIP_TRANSPORTS). */
  sipPorts: RunningEdge['sipPorts'];
  httpPort: number;
  stop(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  logger?: Logger;
}

/** Starts the broker; throws ConfigError for a bad setting. */
export async function startEmbeddedBroker(options: StartOptions = {}): Promise<EmbeddedBroker> {
  const environment = options.env ?? process.env;
  const config = loadConfig(embeddedConfigSchema, environment);
  const logger = options.logger ?? createLogger('embedded', { level: config.LOG_LEVEL });
  // Services talk gRPC over loopback on ephemeral ports; they find each other through membership.
  const internal = {
    ...environment,
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    GRPC_ADVERTISE_HOST: '127.0.0.1',
  };
  const instance = config.INSTANCE_ID ?? `${os.hostname()}-${process.pid}`;
  const registry = createRegistry('embedded', instance);
  loadConfig(edgeConfigSchema, internal); // a bad edge setting fails before anything listens
  const focusConfig = loadConfig(focusConfigSchema, internal);
  const relayConfig = loadConfig(relayConfigSchema, {
    RELAY_PORT_MIN: String(config.RELAY_PORT_MIN),
    RELAY_PORT_MAX: String(config.RELAY_PORT_MAX),
    ...internal,
  });
  const notifierConfig = loadConfig(notifierConfigSchema, internal);

  let bus: Bus;
  let kv: KvStore;
  let closeNats: (() => Promise<void>) | undefined;
  if (config.NATS_URL) {
    const nc = await connectNats(config.NATS_URL, 'sip-pubsub-embedded', logger);
    bus = await connectNatsBus(nc);
    kv = natsKvStore(nc, {
      logger,
      replicas: config.NATS_KV_REPLICAS,
      leaderlessRetryMs: config.NATS_KV_LEADERLESS_RETRY_MS,
    });
    closeNats = () => nc.drain();
  } else {
    bus = new InProcessBus();
    kv = new InProcessKvStore();
  }
  const membership = membershipFactory(config, bus, logger);
  const context = (service: string) => ({
    bus,
    kv,
    registry,
    logger: serviceLogger(logger, service),
    instanceId: `${instance}-${service}`,
    membership,
  });

  // The HTTP port listens first (not ready) so that the edge knows its origin for the console's WebSocket.
  const health = new HealthServer({ host: config.HTTP_HOST, port: config.HTTP_PORT, registry, logger });
  const started: RunningService[] = [];
  try {
    const { port: httpPort } = await health.start();
    health.setReady(false, 'starting');
    const edgeConfig = loadConfig(edgeConfigSchema, { ...internal, HTTP_PORT: String(httpPort) });

    // Back to front, so that the edge finds owners as soon as it takes traffic.
    started.push(await startMediaRelay(relayConfig, context('media-relay')));
    started.push(await startFocusController(focusConfig, context('focus-controller')));
    started.push(await startNotifier(notifierConfig, context('notifier')));
    const edge = await startSignallingEdge(edgeConfig, { ...context('signalling-edge'), http: health });
    started.push(edge);
    health.setReady(true);

    return {
      config,
      sipPort: edge.sipPort,
      sipPorts: edge.sipPorts,
      httpPort,
      async stop() {
        health.setReady(false, 'stopping');
        for (const service of started.reverse()) await service.stop();
        await health.stop();
        await bus.close();
        await closeNats?.();
      },
    };
  } catch (err) {
    for (const service of started.reverse()) await service.stop().catch(() => undefined);
    await health.stop();
    await bus.close();
    await closeNats?.();
    throw err;
  }
}
