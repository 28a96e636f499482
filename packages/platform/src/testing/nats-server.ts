import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from '../free-port.js';

export interface RunningNatsServer {
  url: string;
  port: number;
  storeDir: string;
  stop(): Promise<void>;
}

/** nats-server from NATS_SERVER_BIN, PATH, or the Debian location. */
function natsServerBinary(): string {
  const override = process.env.NATS_SERVER_BIN;
  if (override) return override;
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin']) {
    if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  return 'nats-server';
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function launch(
  jetstream: boolean,
  storeDir: string,
  fixedPort: number | undefined,
  extraArgs: string[] = [],
): Promise<{ child: ChildProcess; port: number } | string> {
  const port = fixedPort ?? (await freePort('tcp'));
  const args = ['-a', '127.0.0.1', '-p', String(port), ...extraArgs];
  if (jetstream) args.push('-js', '-sd', storeDir);
  const child = spawn(natsServerBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let ready = false;
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
    if (log.includes('Server is ready')) ready = true;
  });
  let failed: string | undefined;
  child.once('error', (err) => {
    failed = `cannot run nats-server: ${err.message}`;
  });
  child.once('exit', (code, signal) => {
    failed ??= `nats-server exited (${code ?? signal}) before accepting connections:\n${log}`;
  });
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (failed) return failed;
    if (ready && (await accepts(port))) return { child, port };
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGKILL');
  return `nats-server did not become ready on port ${port}:\n${log}`;
}

/**
 * Runs a real nats-server on a free 127.0.0.1 port (JetStream in a fresh temp dir unless
 * jetstream is false) and waits until it accepts connections. stop() kills it and removes the dir.
 */
export async function startNatsServer(
  opts: { jetstream?: boolean /** Default: a free port. */; port?: number; storeDir?: string } = {},
): Promise<RunningNatsServer> {
  // A caller-provided store dir (to restart a server over the same JetStream data) is kept on stop.
  const ownsDir = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), 'nats-js-')));
  let failure = '';
  // The free port may be taken between the probe and the server's bind: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const result = await launch(opts.jetstream ?? true, storeDir, opts.port);
    if (typeof result === 'string') {
      failure = result;
      if (result.startsWith('cannot run') || opts.port !== undefined) break;
      continue;
    }
    const { child, port } = result;
    let stopped: Promise<void> | undefined;
    return {
      url: `nats://127.0.0.1:${port}`,
      port,
      storeDir,
      stop: () => {
        stopped ??= (async () => {
          child.kill('SIGTERM');
          const gone = exited(child);
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await gone;
          clearTimeout(timer);
          if (ownsDir) await rm(storeDir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  }
  if (ownsDir) await rm(storeDir, { recursive: true, force: true });
  throw new Error(failure);
}

export interface NatsClusterNode {
  name: string;
  url: string;
  port: number;
  storeDir: string;
  /** Whether the process is running. */
  running(): boolean;
  /** SIGKILL: the node vanishes as in a crash; its store dir stays for restart(). */
  kill(): Promise<void>;
  /** Starts the node again on the same ports and store dir (it rejoins the cluster). */
  restart(): Promise<void>;
}

export interface RunningNatsCluster {
  /** The client URLs of all nodes, comma-separated (as NATS_URL takes them). */
  url: string;
  nodes: NatsClusterNode[];
  stop(): Promise<void>;
}

/**
 * A JetStream cluster of `size` nats-server processes on 127.0.0.1 (default 3): one cluster name,
 * routes between all nodes, each node with its own name and store dir. Resolves once every node
 * accepts connections; JetStream has a meta leader soon after (callers that create streams retry).
 */
export async function startNatsCluster(opts: { size?: number } = {}): Promise<RunningNatsCluster> {
  const size = opts.size ?? 3;
  const clusterName = `test-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const root = await mkdtemp(join(tmpdir(), 'nats-cluster-'));
  const specs: { name: string; port: number; clusterPort: number; storeDir: string }[] = [];
  for (let i = 0; i < size; i++) {
    specs.push({
      name: `n${i}`,
      port: await freePort('tcp'),
      clusterPort: await freePort('tcp'),
      storeDir: join(root, `n${i}`),
    });
  }
  const routes = specs.map((s) => `nats://127.0.0.1:${s.clusterPort}`).join(',');
  const children: (ChildProcess | undefined)[] = [];
  const start = async (i: number): Promise<void> => {
    const spec = specs[i];
    const args = [
      '-n',
      spec.name,
      '--cluster_name',
      clusterName,
      '--cluster',
      `nats://127.0.0.1:${spec.clusterPort}`,
      '--routes',
      routes,
    ];
    const result = await launch(true, spec.storeDir, spec.port, args);
    if (typeof result === 'string') throw new Error(result);
    children[i] = result.child;
  };
  const stopAll = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (!child) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited(child);
        clearTimeout(timer);
      }),
    );
    await rm(root, { recursive: true, force: true });
  };
  try {
    // Started together: each waits for its routes, and JetStream needs a quorum to elect a leader.
    await Promise.all(specs.map((_, i) => start(i)));
  } catch (err) {
    await stopAll();
    throw err;
  }
  const nodes: NatsClusterNode[] = specs.map((spec, i) => ({
    name: spec.name,
    url: `nats://127.0.0.1:${spec.port}`,
    port: spec.port,
    storeDir: spec.storeDir,
    running: () => {
      const child = children[i];
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    kill: async () => {
      const child = children[i];
      if (!child) return;
      child.kill('SIGKILL');
      await exited(child);
    },
    restart: () => start(i),
  }));
  return { url: nodes.map((n) => n.url).join(','), nodes, stop: stopAll };
}
