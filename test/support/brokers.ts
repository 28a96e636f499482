// Starts the broker for system tests: four separate service processes with a real nats-server, or the
// embedded one-process broker exactly as `npm start` runs it.
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@sip-pubsub/platform';
import { startNatsServer } from '@sip-pubsub/platform/testing';
import { RawSipSocket, rawRequest } from './raw-sip.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunningBroker {
  sipPort: number;
  /** Separate processes only: the SIP port of each edge replica (sipPort is the first's). */
  edgeSipPorts?: number[];
  /** The service processes of a separate-process broker, with their ports. */
  services?: { name: string; instanceId: string; httpPort: number; grpcPort: number }[];
  /** Each process's captured output, for failure messages. */
  logs(): string;
  /** Separate processes only: SIGKILLs the service process with this instance id; resolves once it exited. */
  kill?(instanceId: string): Promise<void>;
  stop(): Promise<void>;
}

function spawnNode(
  script: string,
  env: Record<string, string>,
  output: string[],
  name: string,
): ChildProcess {
  const child = spawn(process.execPath, [path.join(ROOT, script)], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => {
    output.push(`[${name}] ${chunk.toString('utf8')}`);
    if (output.length > 2000) output.shift();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Waits until the broker answers OPTIONS to the factory with 200 (the edge sees a focus owner). */
export async function waitForSip(
  sipPort: number,
  timeoutMs = 30_000,
  logs: () => string = () => '',
): Promise<void> {
  const socket = await RawSipSocket.open();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        const res = await socket.request(
          rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: socket.port }),
          sipPort,
          1_000,
        );
        if (res.status === 200) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline)
        throw new Error(`broker did not answer OPTIONS on ${sipPort} within ${timeoutMs} ms\n${logs()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    socket.close();
  }
}

async function sipPortPair(): Promise<number> {
  // UDP and TCP listen on the same number; pick one free for both.
  for (let i = 0; i < 20; i++) {
    const port = await freePort('udp');
    const tcp = await freePort('tcp');
    if (port === tcp) return port;
    const net = await import('node:net');
    const ok = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no port free for both UDP and TCP');
}

/** A random block of `size` RTP ports in 30000-59999 (ports the relay cannot bind are skipped by it). */
export function relayPortRange(size = 100): { min: number; max: number } {
  const base = 30_000 + Math.floor(Math.random() * Math.floor(30_000 / size)) * size;
  return { min: base, max: base + size - 1 };
}

export function startSeparateProcesses(
  opts: {
    relays?: number;
    relayPorts?: number;
    edges?: number;
    /** Notifier replicas (default 1). */
    notifiers?: number;
    env?: Record<string, string>;
  } = {},
): Promise<RunningBroker> {
  return withPortRetry(() => startSeparateProcessesOnce(opts));
}

async function startSeparateProcessesOnce(
  opts: {
    relays?: number;
    relayPorts?: number;
    edges?: number;
    notifiers?: number;
    env?: Record<string, string>;
  } = {},
): Promise<RunningBroker> {
  const nats = await startNatsServer();
  const output: string[] = [];
  const sipPort = await sipPortPair();
  const children: ChildProcess[] = [];
  const services: NonNullable<RunningBroker['services']> = [];
  const common = { NATS_URL: nats.url, SIP_DOMAIN: 'localhost' };
  const service = async (name: string, extra: Record<string, string> = {}) => {
    const env = {
      ...common,
      HTTP_PORT: String(await freePort('tcp')),
      GRPC_PORT: String(await freePort('tcp')),
      INSTANCE_ID: `${name}-${children.length}`,
      ...opts.env,
      ...extra,
    };
    services.push({
      name,
      instanceId: env.INSTANCE_ID,
      httpPort: Number(env.HTTP_PORT),
      grpcPort: Number(env.GRPC_PORT),
    });
    children.push(spawnNode(`services/${name}/dist/main.js`, env, output, `${name}#${children.length}`));
  };
  for (let i = 0; i < (opts.relays ?? 1); i++) {
    const range = relayPortRange(opts.relayPorts);
    await service('media-relay', { RELAY_PORT_MIN: String(range.min), RELAY_PORT_MAX: String(range.max) });
  }
  await service('focus-controller');
  for (let i = 0; i < (opts.notifiers ?? 1); i++) await service('notifier');
  await service('signalling-edge', { SIP_PORT: String(sipPort) });
  // Further edge replicas (opts.edges), each on its own SIP port, sharing opts.env (e.g. AUTH_NONCE_SECRET).
  const edgeSipPorts = [sipPort];
  for (let i = 1; i < (opts.edges ?? 1); i++) {
    const port = await sipPortPair();
    edgeSipPorts.push(port);
    await service('signalling-edge', { SIP_PORT: String(port) });
  }
  const logs = () => output.join('');
  const stop = async () => {
    await Promise.all(children.map(stopChild));
    await nats.stop();
  };
  try {
    await Promise.race([
      Promise.all(edgeSipPorts.map((port) => waitForSip(port, 30_000, logs))),
      ...children.map((c) => exitOf(c, logs)),
    ]);
    // Relays and notifier announce themselves on the same heartbeat; give the focus a moment to see a relay.
    await new Promise((r) => setTimeout(r, 500));
  } catch (err) {
    await stop();
    throw err;
  }
  const kill = async (instanceId: string) => {
    const child = children[services.findIndex((s) => s.instanceId === instanceId)];
    if (!child) throw new Error(`no service process ${instanceId}`);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  };
  return { sipPort, edgeSipPorts, logs, stop, services, kill };
}

/**
 * Ports are picked free and then bound by another process, so another test may take one in between;
 * a start that fails on a port in use is tried again with new ports.
 */
async function withPortRetry(start: () => Promise<RunningBroker>): Promise<RunningBroker> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE|address already in use/i.test(String((err as Error).message)))
        throw err;
    }
  }
}

/** Fails as soon as the child exits, instead of waiting for SIP to time out. */
function exitOf(child: ChildProcess, logs: () => string): Promise<never> {
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) =>
      reject(new Error(`broker exited early (${code ?? signal})\n${logs()}`)),
    ),
  );
  // Exiting later (when the test stops it) is not a failure of the start.
  exited.catch(() => undefined);
  return exited;
}

export function startEmbedded(extraEnv: Record<string, string> = {}): Promise<RunningBroker> {
  return withPortRetry(() => startEmbeddedOnce(extraEnv));
}

async function startEmbeddedOnce(extraEnv: Record<string, string>): Promise<RunningBroker> {
  const output: string[] = [];
  const sipPort = await sipPortPair();
  const range = relayPortRange();
  const child = spawnNode(
    'services/embedded/dist/main.js',
    {
      SIP_PORT: String(sipPort),
      HTTP_PORT: String(await freePort('tcp')),
      RELAY_PORT_MIN: String(range.min),
      RELAY_PORT_MAX: String(range.max),
      ...extraEnv,
    },
    output,
    'embedded',
  );
  const logs = () => output.join('');
  try {
    await Promise.race([waitForSip(sipPort, 30_000, logs), exitOf(child, logs)]);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return { sipPort, logs, stop: () => stopChild(child) };
}
