// The media relay alone in its own process for the fan-out benchmark, so its CPU can be read from
// /proc like Mosquitto's: in-process bus and KV, gRPC on loopback. Prints {"grpcPort":N} when ready.
// Usage: node --import tsx test/bench/fanout-relay.ts <port min> <port max> [nats URL]
// With a NATS URL the bus is core NATS there (KV stays in-process), so two such relays share a conference.

import { relayConfigSchema, startMediaRelay } from '@sip-pubsub/media-relay';
import {
  type Bus,
  BusMembership,
  connectNats,
  connectNatsBus,
  createLogger,
  createRegistry,
  InProcessBus,
  InProcessKvStore,
  loadConfig,
} from '@sip-pubsub/platform';

const [min, max, natsUrl] = process.argv.slice(2);
const config = loadConfig(relayConfigSchema, {
  GRPC_HOST: '127.0.0.1',
  GRPC_PORT: '0',
  RELAY_HOST: '127.0.0.1',
  RELAY_PORT_MIN: min,
  RELAY_PORT_MAX: max,
  // The benchmark's publishers send faster than a sensor would; the per-leg flood guard stays out of the way.
  RELAY_MAX_PACKETS_PER_SECOND_PER_LEG: '1000000',
  RELAY_MIX_BUFFER_MS: '0',
});
const logger = createLogger('bench-relay', { level: 'error' });
const bus: Bus = natsUrl
  ? await connectNatsBus(await connectNats(natsUrl, 'bench-relay', logger), { logger, ownsConnection: true })
  : new InProcessBus();
const relay = await startMediaRelay(config, {
  bus,
  kv: new InProcessKvStore(),
  logger,
  registry: createRegistry('relay', `bench-relay-${process.pid}`),
  instanceId: `bench-relay-${process.pid}`,
  membership: ({ self, watch }) => new BusMembership({ bus, self, watch }),
});
process.stdout.write(`${JSON.stringify({ grpcPort: relay.grpcPort })}\n`);
const stop = async () => {
  await relay.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
