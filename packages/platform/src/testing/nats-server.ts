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
): Promise<{ child: ChildProcess; port: number } | string> {
  const port = fixedPort ?? (await freePort('tcp'));
  const args = ['-a', '127.0.0.1', '-p', String(port)];
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
