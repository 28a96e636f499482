// Idle topics at scale (issue 11 item 4): the four services as separate processes with nats-server;
// SIPp creates N topics through the factory (INVITE → 302 → ACK, test/bench/factory-only.xml), nobody
// joins them, and the cost of holding them is read: in the focus-controller process (V8 heap used from its
// /metrics, lowest of several samples so garbage not yet collected counts less; resident memory from
// /proc), and in the KV (JetStream bytes per bucket stream from the server's account, and the store
// directory on disk). Then one watcher subscribes to the directory of all of them over UDP and the time
// to its first NOTIFY and to a complete view is read (the state goes out in parts of at most
// NOTIFY_MAX_BODY_BYTES, one per NOTIFY_MIN_INTERVAL_MS). Printed, never asserted.
// Run: npm run bench -- topics [--topics 10000] [--rate 200]   (100k: --topics 100000)
import { execFileSync, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { SipPubSubClient } from '@sip-pubsub/client';
import type { DirectoryInfo } from '@sip-pubsub/events';
import { connect } from 'nats';
import { callCounts, runSipp } from '../interop/sipp/sipp.js';
import { startSeparateProcesses } from '../support/brokers.js';
import { SIPP_ENV } from './churn.bench.js';
import { fmt, printHeader, printTable } from './machine.js';
import { pidByCommand } from './proc.js';
import { failureSummary } from './sipp-ramp.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function heapUsed(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([0-9.e+]+)/m.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/**
 * Heap used after a full collection, through the process's inspector (the services run with
 * --inspect=127.0.0.1:0 here): HeapProfiler.collectGarbage, then process.memoryUsage() evaluated there.
 * Spoken from a child Node with --experimental-websocket (Node 20 has no WebSocket by default).
 */
async function heapAfterGc(wsUrl: string): Promise<number> {
  const script = `
    const ws = new WebSocket(${JSON.stringify(wsUrl)});
    ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.id === 1) ws.send(JSON.stringify({ id: 2, method: 'HeapProfiler.collectGarbage' }));
      if (m.id === 2) ws.send(JSON.stringify({ id: 3, method: 'Runtime.evaluate',
        params: { expression: 'process.memoryUsage().heapUsed', returnByValue: true } }));
      if (m.id === 3) { console.log(m.result.result.value); ws.close(); }
    };
    ws.onerror = (e) => { console.error(String(e.message ?? e)); process.exit(1); };`;
  const child = spawn(process.execPath, ['--experimental-websocket', '--no-warnings', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  await new Promise((r) => child.once('exit', r));
  return Number(out.trim());
}

/** The lowest heap-used of a few samples a second apart: what survives the collections in between. */
async function settledHeap(httpPort: number, samples = 6): Promise<number> {
  let low = Number.POSITIVE_INFINITY;
  for (let i = 0; i < samples; i++) {
    low = Math.min(low, await heapUsed(httpPort));
    await new Promise((r) => setTimeout(r, 1_000));
  }
  return low;
}

const du = (dir: string) => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);

async function jetStream(natsUrl: string): Promise<Map<string, { bytes: number; messages: number }>> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await nc.jetstreamManager();
    const out = new Map<string, { bytes: number; messages: number }>();
    for await (const s of jsm.streams.list())
      out.set(s.config.name, { bytes: s.state.bytes, messages: s.state.messages });
    return out;
  } finally {
    await nc.close();
  }
}

/** Subscribes to the directory and waits until it lists `count` topics (or stops growing for 10 s). */
async function directoryTiming(
  sipPort: number,
  count: number,
): Promise<{ firstMs: number; completeMs: number; notifies: number; listed: number }> {
  const client = await SipPubSubClient.connect({
    server: `127.0.0.1:${sipPort}`,
    user: 'directory-bench',
    requestTimeoutMs: 60_000,
  });
  try {
    const t0 = performance.now();
    const watcher = await client.directory();
    let firstMs = Number.NaN;
    let completeMs = Number.NaN;
    let notifies = 0;
    let listed = 0;
    await new Promise<void>((resolve) => {
      let quiet: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(quiet);
        resolve();
      };
      watcher.on('notify', (_doc: DirectoryInfo, view: DirectoryInfo) => {
        if (notifies++ === 0) firstMs = performance.now() - t0;
        listed = view.conferences.length;
        completeMs = performance.now() - t0;
        clearTimeout(quiet);
        if (listed >= count) done();
        else quiet = setTimeout(done, 10_000);
      });
      watcher.on('terminated', done);
    });
    await watcher.close().catch(() => undefined);
    return { firstMs, completeMs, notifies, listed };
  } finally {
    await client.close();
  }
}

export async function main(): Promise<void> {
  const topics = flag('topics', 10_000);
  const rate = flag('rate', 200);
  printHeader(
    'Idle topics: bytes per topic in the focus and in KV',
    `npm run bench -- topics --topics ${topics} --rate ${rate}`,
  );
  const broker = await startSeparateProcesses({
    // MAX_CONFERENCES (10,000 by default, cluster-wide) would refuse every topic past it with 503.
    env: {
      ...SIPP_ENV,
      LOG_LEVEL: 'error',
      NODE_OPTIONS: '--inspect=127.0.0.1:0',
      MAX_CONFERENCES: String(topics + 1_000),
    },
  });
  try {
    const focus = broker.services!.find((s) => s.name === 'focus-controller')!;
    const inspector = /\[focus-controller#\d+\] Debugger listening on (ws:\/\/\S+)/.exec(broker.logs())?.[1];
    const gcHeap = async () => (inspector ? heapAfterGc(inspector) : Number.NaN);
    const natsPort = new URL(broker.natsUrl!).port;
    const natsPid = await pidByCommand('nats-server', ['-p', natsPort]);
    const argv = (await readFile(`/proc/${natsPid}/cmdline`, 'utf8')).split('\0');
    const storeDir = argv[argv.indexOf('-sd') + 1];
    // Warm the paths first so the figures do not count code compiled on the first topic.
    const make = (n: number, prefix: string) =>
      runSipp({
        scenario: '../../bench/factory-only.xml',
        sipPort: broker.sipPort,
        calls: n,
        rate,
        limit: Math.max(100, rate * 4),
        injection: Array.from({ length: n }, (_, i) => `${prefix}/${i}`),
        timeoutS: Math.ceil(n / rate + 300),
        recvTimeoutMs: 30_000,
      });
    await make(200, 'bench/warm');
    const before = {
      gcHeap: await gcHeap(),
      heap: await settledHeap(focus.httpPort),
      rss: await rss(focus.pid),
      disk: du(storeDir),
      streams: await jetStream(broker.natsUrl!),
    };
    const t0 = performance.now();
    const run = await make(topics, 'bench/idle');
    const seconds = (performance.now() - t0) / 1000;
    const counts = callCounts(run);
    await new Promise((r) => setTimeout(r, 3_000));
    const after = {
      gcHeap: await gcHeap(),
      heap: await settledHeap(focus.httpPort),
      rss: await rss(focus.pid),
      disk: du(storeDir),
      streams: await jetStream(broker.natsUrl!),
    };
    // A call SIPp counts as failed (its 302 came after the receive timeout) may still have made its
    // topic: the conference records written are the count the deltas are divided by.
    const conferences =
      (after.streams.get('KV_conferences')?.messages ?? 0) -
      (before.streams.get('KV_conferences')?.messages ?? 0);
    const made = conferences > 0 ? conferences : counts.successful;
    process.stdout.write(
      `SIPp: ${fmt.int(counts.successful)}/${fmt.int(topics)} calls ok (${counts.failed} failed) in ${fmt.fixed(seconds, 1)} s;` +
        ` ${fmt.int(made)} conference records written (${fmt.int(made / seconds)} topics/s); per topic = delta / ${fmt.int(made)}:\n`,
    );
    if (counts.failed > 0)
      process.stdout.write(`failed calls (from SIPp's error log): ${failureSummary(run.errors)}\n`);
    const per = (delta: number) => fmt.int(delta / Math.max(1, made));
    const rows: (string | number)[][] = [
      ['where', 'before', 'after', 'bytes/topic'],
      [
        'focus V8 heap after full GC',
        fmt.int(before.gcHeap),
        fmt.int(after.gcHeap),
        per(after.gcHeap - before.gcHeap),
      ],
      [
        'focus V8 heap used (low of 6 s)',
        fmt.int(before.heap),
        fmt.int(after.heap),
        per(after.heap - before.heap),
      ],
      ['focus resident (RSS)', fmt.int(before.rss), fmt.int(after.rss), per(after.rss - before.rss)],
      ['JetStream store on disk', fmt.int(before.disk), fmt.int(after.disk), per(after.disk - before.disk)],
    ];
    let totalBefore = 0;
    let totalAfter = 0;
    for (const [name, a] of after.streams) {
      const b = before.streams.get(name) ?? { bytes: 0, messages: 0 };
      totalBefore += b.bytes;
      totalAfter += a.bytes;
      if (a.bytes === b.bytes) continue;
      rows.push([
        `  stream ${name} (${fmt.int(a.messages - b.messages)} msgs)`,
        fmt.int(b.bytes),
        fmt.int(a.bytes),
        per(a.bytes - b.bytes),
      ]);
    }
    rows.push([
      'JetStream bytes, all streams',
      fmt.int(totalBefore),
      fmt.int(totalAfter),
      per(totalAfter - totalBefore),
    ]);
    printTable(rows);

    const dir = await directoryTiming(broker.sipPort, made + 200);
    process.stdout.write(
      `directory SUBSCRIBE over UDP (one watcher, all ${fmt.int(made + 200)} topics): first NOTIFY after` +
        ` ${fmt.int(dir.firstMs)} ms, ${fmt.int(dir.listed)} listed after ${fmt.fixed(dir.completeMs / 1000, 1)} s` +
        ` in ${fmt.int(dir.notifies)} NOTIFYs (${fmt.int(dir.listed / Math.max(0.001, dir.completeMs / 1000))} entries/s)\n`,
    );
  } finally {
    await broker.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
