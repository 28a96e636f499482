// Starts the broker for system tests: four separate service processes with a real nats-server, or the
// embedded one-process broker exactly as `npm start` runs it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@sip-pubsub/platform';
import { type NatsClusterNode, startNatsCluster, startNatsServer } from '@sip-pubsub/platform/testing';
import { RawSipSocket, rawRequest } from './raw-sip.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunningBroker {
  sipPort: number;
  /** Separate processes only: the SIP port of each edge replica (sipPort is the first's). */
  edgeSipPorts?: number[];
  /** Separate processes: the SIP port of every edge replica (sipPort is the first). */
  sipPorts?: number[];
  /** Separate processes: NATS_URL the services got (comma-separated with a cluster). */
  natsUrl?: string;
  /** With `natsCluster`: the nats-server nodes, to kill one. */
  natsNodes?: NatsClusterNode[];
  /** Single nats-server: stops it (an outage) and starts it again on the same port and store. */
  stopNats?(): Promise<void>;
  startNats?(): Promise<void>;
  /** The service processes of a separate-process broker, with their ports. */
  services?: { name: string; instanceId: string; httpPort: number; grpcPort: number; pid: number }[];
  /** Embedded only: the one broker process. */
  pid?: number;
  /** Each process's captured output, for failure messages. */
  logs(): string;
  /** Separate processes only: SIGKILLs the service process with this instance id; resolves once it exited. */
  kill?(instanceId: string): Promise<void>;
  /** Separate processes only: starts a killed service process again with the same id, ports and settings. */
  restart?(instanceId: string): Promise<void>;
  stop(): Promise<void>;
}

function spawnNode(
  script: string,
  env: Record<string, string>,
  output: string[],
  name: string,
): ChildProcess {
  // BROKER_NODE_ARGS: extra node flags for the service processes (e.g. --cpu-prof --cpu-prof-dir=/tmp/p,
  // which NODE_OPTIONS does not take), for profiling a bench.
  const nodeArgs = (process.env.BROKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, script)], {
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

/** True while a process with this id exists (signal 0 checks without signalling). */
export function processAlive(pid: number | undefined): boolean {
  if (pid === undefined || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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

export interface SeparateProcessOptions {
  relays?: number;
  relayPorts?: number;
  /** Replicas of focus-controller, notifier and signalling-edge (each edge on its own SIP port); default 1. */
  replicas?: number;
  /** Edge replicas (each on its own SIP port, sharing env such as AUTH_NONCE_SECRET); default `replicas`. */
  edges?: number;
  /** Notifier replicas; default `replicas`. */
  notifiers?: number;
  /** A three-node JetStream cluster instead of one nats-server; buckets at replicas 3. */
  natsCluster?: boolean;
  env?: Record<string, string>;
}

export function startSeparateProcesses(opts: SeparateProcessOptions = {}): Promise<RunningBroker> {
  return withPortRetry(() => startSeparateProcessesOnce(opts));
}

async function startSeparateProcessesOnce(opts: SeparateProcessOptions = {}): Promise<RunningBroker> {
  const cluster = opts.natsCluster ? await startNatsCluster() : undefined;
  // A store dir of our own, so the server can be stopped and started again over the same JetStream data.
  const natsDir = cluster ? undefined : await mkdtemp(path.join(tmpdir(), 'broker-nats-'));
  let single = cluster ? undefined : await startNatsServer({ storeDir: natsDir });
  const nats = cluster
    ? { url: cluster.url, stop: cluster.stop }
    : {
        url: single!.url,
        stop: async () => {
          await single?.stop();
          await rm(natsDir!, { recursive: true, force: true });
        },
      };
  const stopNats = async () => {
    await single?.stop();
  };
  const startNats = async () => {
    if (!natsDir || !single) return;
    single = await startNatsServer({ port: single.port, storeDir: natsDir });
  };
  const output: string[] = [];
  const replicas = opts.replicas ?? 1;
  const sipPorts: number[] = [];
  for (let i = 0; i < (opts.edges ?? replicas); i++) sipPorts.push(await sipPortPair());
  const sipPort = sipPorts[0];
  const children: ChildProcess[] = [];
  const launches: { script: string; env: Record<string, string>; label: string }[] = [];
  const services: NonNullable<RunningBroker['services']> = [];
  const common: Record<string, string> = {
    NATS_URL: nats.url,
    SIP_DOMAIN: 'localhost',
    ...(cluster ? { NATS_KV_REPLICAS: '3' } : {}),
  };
  const service = async (name: string, extra: Record<string, string> = {}) => {
    const env = {
      ...common,
      HTTP_PORT: String(await freePort('tcp')),
      GRPC_PORT: String(await freePort('tcp')),
      INSTANCE_ID: `${name}-${children.length}`,
      ...opts.env,
      ...extra,
    };
    const child = spawnNode(`services/${name}/dist/main.js`, env, output, `${name}#${children.length}`);
    services.push({
      name,
      instanceId: env.INSTANCE_ID,
      httpPort: Number(env.HTTP_PORT),
      grpcPort: Number(env.GRPC_PORT),
      pid: child.pid ?? -1,
    });
    launches.push({ script: `services/${name}/dist/main.js`, env, label: `${name}#${children.length}` });
    children.push(child);
  };
  for (let i = 0; i < (opts.relays ?? 1); i++) {
    const range = relayPortRange(opts.relayPorts);
    await service('media-relay', { RELAY_PORT_MIN: String(range.min), RELAY_PORT_MAX: String(range.max) });
  }
  for (let i = 0; i < replicas; i++) await service('focus-controller');
  for (let i = 0; i < (opts.notifiers ?? replicas); i++) await service('notifier');
  for (const port of sipPorts) await service('signalling-edge', { SIP_PORT: String(port) });
  const logs = () => output.join('');
  const stop = async () => {
    await Promise.all(children.map(stopChild));
    await nats.stop();
  };
  try {
    await Promise.race([
      Promise.all(sipPorts.map((port) => waitForSip(port, 30_000, logs))),
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
  return {
    sipPort,
    sipPorts,
    edgeSipPorts: sipPorts,
    natsUrl: nats.url,
    natsNodes: cluster?.nodes,
    ...(cluster ? {} : { stopNats, startNats }),
    restart: async (instanceId: string) => {
      const i = services.findIndex((s) => s.instanceId === instanceId);
      const child = children[i];
      if (!child) throw new Error(`no service process ${instanceId}`);
      if (child.exitCode === null && child.signalCode === null)
        throw new Error(`${instanceId} is still running`);
      const { script, env, label } = launches[i];
      children[i] = spawnNode(script, env, output, `${label}'`);
    },
    logs,
    stop,
    services,
    kill,
  };
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
  return { sipPort, logs, stop: () => stopChild(child), pid: child.pid };
}
