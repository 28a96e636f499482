// The shared entry point of a service process: configuration, logger, NATS bus and KV, metrics and
// health server, start, readiness, and draining on SIGTERM. Each service's main.ts is one call to it.
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { Bus } from './bus.js';
import { handleCommandLine } from './command-line.js';
import { ConfigError, EXIT_CONFIG, instanceId, loadConfigOrExit } from './config.js';
import { HealthServer, type HttpMounts } from './health.js';
import type { KvStore } from './kv.js';
import { instrumentKv } from './kv-metrics.js';
import { createLogger, type Logger } from './logging.js';
import { type MembershipFactory, type MembershipSettings, membershipFactory } from './membership-factory.js';
import { createRegistry } from './metrics.js';
import { connectNats, connectNatsBus } from './nats-bus.js';
import { natsKvStore } from './nats-kv.js';
import { natsConnectionGauge } from './nats-metrics.js';
import { trackNatsConnection } from './nats-outage.js';
import { installShutdown } from './shutdown.js';

/** What a service gets to run with; the embedded broker builds one per service with in-process parts. */
export interface ServiceContext {
  bus: Bus;
  /** Makes this process's membership view (NATS heartbeats or Kubernetes EndpointSlices, by MEMBERSHIP). */
  membership: MembershipFactory;
  kv: KvStore;
  logger: Logger;
  registry: Registry;
  instanceId: string;
  /** The process's HTTP port, for a service's own pages (absent: the service serves none). */
  http?: HttpMounts;
  /** False while the NATS connection is down (absent: in-process bus and KV, always there). */
  natsConnected?: () => boolean;
}

export interface RunningService {
  ready(): boolean;
  /** Stop taking new work, finish or hand off what is in flight, release resources. */
  stop(): Promise<void>;
}

interface RunnableConfig extends MembershipSettings {
  LOG_LEVEL: string;
  HTTP_HOST: string;
  HTTP_PORT: number;
  NATS_URL?: string;
  NATS_KV_REPLICAS?: number;
  NATS_KV_LEADERLESS_RETRY_MS?: number;
  INSTANCE_ID?: string;
  POD_NAME?: string;
}

// biome-ignore lint/suspicious/noExplicitAny: any object schema, as loadConfig takes
export async function runService<S extends z.ZodObject<any>>(opts: {
  name: string;
  schema: S;
  start: (config: z.infer<S> & RunnableConfig, ctx: ServiceContext) => Promise<RunningService>;
  env?: Record<string, string | undefined>;
}): Promise<void> {
  handleCommandLine({
    program: opts.name,
    about: [
      `Runs ${opts.name}, one service of a sip-pubsub cluster, as its own process: it needs NATS (NATS_URL)`,
      'and finds the other services through membership. It takes no other argument: every setting is an',
      'environment variable. README.md ("Configuration") says what each does.',
    ],
    schemas: [opts.schema],
  });
  const config = loadConfigOrExit(opts.schema, opts.env) as z.infer<S> & RunnableConfig;
  const logger = createLogger(opts.name, { level: config.LOG_LEVEL });
  if (!config.NATS_URL) {
    const err = new ConfigError(
      'NATS_URL',
      `NATS_URL: required when ${opts.name} runs as its own process (npm start runs the embedded broker without NATS)`,
    );
    process.stderr.write(`configuration error: ${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const id = instanceId(config);
  const registry = createRegistry(opts.name, id);
  const health = new HealthServer({ host: config.HTTP_HOST, port: config.HTTP_PORT, registry, logger });
  await health.start();
  health.setReady(false, 'starting');

  const nc = await connectNats(config.NATS_URL, `${opts.name}-${id}`, logger);
  natsConnectionGauge(registry, nc);
  const bus = await connectNatsBus(nc, { logger });
  const kv = instrumentKv(
    natsKvStore(nc, {
      logger,
      replicas: config.NATS_KV_REPLICAS,
      leaderlessRetryMs: config.NATS_KV_LEADERLESS_RETRY_MS,
    }),
    registry,
  );
  let membership: MembershipFactory;
  try {
    membership = membershipFactory(config, bus, logger);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`configuration error: ${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const natsConnected = trackNatsConnection(nc);
  let service: RunningService;
  try {
    service = await opts.start(config, {
      bus,
      kv,
      logger,
      registry,
      instanceId: id,
      membership,
      natsConnected,
      http: health,
    });
  } catch (err) {
    // Exits non-zero so that the orchestrator starts it again, saying why in the log first.
    logger.fatal({ err }, `${opts.name} could not start`);
    process.exit(1);
  }
  const readiness = setInterval(() => {
    const connected = !nc.isClosed();
    health.setReady(connected && service.ready(), connected ? 'service not ready' : 'NATS connection closed');
  }, 1_000);
  readiness.unref();
  health.setReady(true);
  logger.info({ instance: id }, `${opts.name} ready`);

  installShutdown({
    logger,
    drain: async () => {
      clearInterval(readiness);
      health.setReady(false, 'draining');
      await service.stop();
      await bus.close();
      await nc.drain().catch(() => undefined);
      await health.stop();
    },
  });
}
