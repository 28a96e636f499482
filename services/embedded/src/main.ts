// `npm start`: the whole broker in one process, nothing else to install.
import { focusConfigSchema } from '@sip-pubsub/focus-controller';
import { relayConfigSchema } from '@sip-pubsub/media-relay';
import { notifierConfigSchema } from '@sip-pubsub/notifier';
import { ConfigError, createLogger, handleCommandLine, installShutdown } from '@sip-pubsub/platform';
import { edgeConfigSchema } from '@sip-pubsub/signalling-edge';
import { startEmbeddedBroker } from './broker.js';
import { embeddedConfigSchema } from './config.js';

handleCommandLine({
  program: 'sip-pubsub-broker',
  about: [
    'Runs the whole broker in one process (npm start): signalling-edge, focus-controller, media-relay and',
    'notifier, with an in-process bus and KV (NATS and JetStream KV when NATS_URL is set). It takes no other',
    'argument: every setting is an environment variable. README.md ("Configuration") says what each does.',
  ],
  // The broker's own settings first: where a service has another default (HTTP_PORT), the broker's is used.
  schemas: [
    embeddedConfigSchema,
    edgeConfigSchema,
    focusConfigSchema,
    relayConfigSchema,
    notifierConfigSchema,
  ],
  // Set by the broker for its services' loopback gRPC.
  except: new Set(['GRPC_HOST', 'GRPC_PORT', 'GRPC_ADVERTISE_HOST']),
});

const logger = createLogger('embedded', { level: process.env.LOG_LEVEL ?? 'info' });
try {
  const broker = await startEmbeddedBroker({ logger });
  const { SIP_DOMAIN: domain } = broker.config;
  const sip = `127.0.0.1:${broker.sipPort}`;
  const listening = Object.entries(broker.sipPorts)
    .map(([transport, port]) =>
      transport === 'ws' || transport === 'wss' ? `${transport}://127.0.0.1:${port}` : `${transport} ${port}`,
    )
    .join(', ');
  process.stdout.write(
    [
      '',
      `sip-pubsub is running (embedded: all four services in one process, in-process bus and KV)`,
      `  SIP       ${listening}   factory URI sip:factory@${domain}`,
      `  RTP       ports ${broker.config.RELAY_PORT_MIN}-${broker.config.RELAY_PORT_MAX}`,
      `  metrics   http://127.0.0.1:${broker.httpPort}/metrics   health /healthz /readyz`,
      '',
      'Try it in two other terminals:',
      `  npx sip-pubsub subscribe plant-7/boiler/temp --server ${sip}`,
      `  npx sip-pubsub publish plant-7/boiler/temp --server ${sip} --name temp --unit Cel --value 21.5`,
      `  npx sip-pubsub watch plant-7/boiler/temp --server ${sip}`,
      '',
      'Ctrl-C stops it.',
      '',
    ].join('\n'),
  );
  installShutdown({ logger, drain: () => broker.stop() });
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`sip-pubsub: bad configuration: ${err.message}\n`);
    process.exit(78);
  }
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EADDRINUSE') {
    process.stderr.write(
      `sip-pubsub: a port is already in use (${e.message}); set SIP_PORT, HTTP_PORT or RELAY_PORT_MIN/MAX\n`,
    );
    process.exit(1);
  }
  throw err;
}
