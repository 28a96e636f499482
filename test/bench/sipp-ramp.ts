// SIPp ramp: factory INVITE → 302 → join → (1 s) → BYE at increasing call rates, against the embedded
// broker and against the four services as separate processes with nats-server. For each rate: calls,
// failures, retransmissions, and the response-time distribution SIPp traced (-trace_rtt): counter 1 is
// factory INVITE → join 200 (lookup, redirect, join, relay leg), counter 2 is BYE → 200. Reports the
// highest rate with zero failed calls. The same scenario runs against a stateful Kamailio stub
// (kamailio.cfg beside this file: tm answers 302, 200 and BYE's 200) as the anchor, with the ratio.
// CPU per call is the broker processes' utime+stime over the step (/proc), divided by the calls made: less
// noisy than rates on a shared machine. Printed, never asserted.
// Run: npm run bench -- sipp-ramp [--seconds 5] [--rates 25,50,100,200,400] [--kamailio-rates 200,400,800]
//      [--owner-link stream,unary] (OWNER_LINK of the broker's edge, one ramp each) [--only embedded,split,kamailio]
// (Kamailio from Debian's packages: apt-get install -y kamailio; without it the anchor is skipped.)
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@sip-pubsub/platform';
import * as hdr from 'hdr-histogram-js';
import { callCounts, type ResponseTime, runSipp } from '../interop/sipp/sipp.js';
import {
  type RunningBroker,
  relayPortRange,
  startEmbedded,
  startSeparateProcesses,
} from '../support/brokers.js';
import { fmt, printHeader, printTable } from './machine.js';
import { cpuUsOf } from './proc.js';

const PAUSE_MS = 1_000;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const KAMAILIO = ['/usr/sbin/kamailio', '/usr/local/sbin/kamailio'].find((p) => existsSync(p));

/** The Kamailio stub on a free UDP port, in the shape the ramp wants (sipPort, stop). */
async function startKamailio(): Promise<RunningBroker> {
  const port = await freePort('udp');
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-kamailio-'));
  const child: ChildProcess = spawn(
    KAMAILIO!,
    // -m: shared memory in MB for the transactions (the default pool runs out near 1,000 calls/s).
    [
      '-f',
      path.join(HERE, 'kamailio.cfg'),
      '-l',
      `udp:127.0.0.1:${port}`,
      '-m',
      '512',
      '-DD',
      '-E',
      '-Y',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const collect = (c: Buffer) => {
    log += c.toString('utf8');
  };
  // Kamailio prints its listening addresses on stdout and its log on stderr.
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const deadline = Date.now() + 10_000;
  while (!/Listening on/.test(log)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`kamailio did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300)); // its children finish forking
  return {
    sipPort: port,
    pid: child.pid,
    logs: () => log,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
const TOPICS = 50;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function percentiles(times: ResponseTime[], counter: number): string[] {
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000,
    numberOfSignificantValueDigits: 3,
  });
  let n = 0;
  for (const t of times) {
    if (t.counter !== counter) continue;
    h.recordValue(Math.max(1, t.ms)); // SIPp traces whole milliseconds; 0 means under 1 ms
    n++;
  }
  if (n === 0) return ['-', '-', '-', '-'];
  return [h.getValueAtPercentile(50), h.getValueAtPercentile(90), h.getValueAtPercentile(99), h.maxValue].map(
    String,
  );
}

/** The broker's own processes (not SIPp, not nats-server). */
function brokerPids(broker: RunningBroker): number[] {
  if (broker.services) return broker.services.map((s) => s.pid).filter((p) => p > 0);
  return broker.pid ? [broker.pid] : [];
}

/** Short names of the service processes, in brokerPids order (edge, focus, relay, notifier). */
const SHORT: Record<string, string> = {
  'signalling-edge': 'edge',
  'focus-controller': 'focus',
  'media-relay': 'relay',
  notifier: 'notifier',
};
function processNames(broker: RunningBroker): string[] {
  return broker.services ? broker.services.filter((s) => s.pid > 0).map((s) => SHORT[s.name] ?? s.name) : [];
}

/** What SIPp's error log says of the failed calls: unexpected statuses and timeouts, counted. */
export function failureSummary(errors: string): string {
  const counts = new Map<string, number>();
  for (const line of errors.split('\n')) {
    const status = /received 'SIP\/2\.0 (\d{3}[^'\r\n]{0,40})/.exec(line)?.[1];
    const what = status
      ? `got ${status.trim()}`
      : /timeout/i.test(line)
        ? 'timeout'
        : /unexpected/i.test(line)
          ? 'unexpected message'
          : undefined;
    if (what) counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts].map(([what, n]) => `${n}× ${what}`).join(', ');
}

async function ramp(
  label: string,
  start: () => Promise<RunningBroker>,
  rates: number[],
  seconds: number,
  rows: (string | number)[][],
  notes: string[],
  cpuNotes: string[] = [],
): Promise<{ best?: number; clean?: number }> {
  let best: number | undefined;
  let clean: number | undefined;
  let failures = 0;
  for (const rate of rates) {
    // A fresh broker per step, so one step's leftovers (retransmissions, half-closed calls) do not load the next.
    const broker = await start();
    try {
      const calls = Math.round(rate * seconds);
      const pids = brokerPids(broker);
      const cpuBefore = await cpuUsOf(pids);
      const eachBefore = await Promise.all(pids.map((p) => cpuUsOf([p])));
      const run = await runSipp({
        scenario: 'factory-join-bye.xml',
        sipPort: broker.sipPort,
        calls,
        rate,
        limit: Math.max(50, Math.ceil(rate * (PAUSE_MS / 1000 + 2) * 2)),
        pauseMs: PAUSE_MS,
        injection: Array.from(
          { length: calls },
          (_, i) =>
            `ramp/${rate}/${i % TOPICS};${i % 2 === 0 ? 'sendonly' : 'recvonly'};${40_000 + 2 * (i % 5_000)}`,
        ),
        timeoutS: Math.ceil(seconds + 60),
        recvTimeoutMs: 15_000,
        traceRtt: true,
      });
      const counts = callCounts(run);
      const cpuPerCall = (await cpuUsOf(pids)) - cpuBefore;
      const each = await Promise.all(pids.map((p, i) => cpuUsOf([p]).then((us) => us - eachBefore[i])));
      const names = processNames(broker);
      if (names.length > 0)
        cpuNotes.push(
          `${label} ${rate}/s: ${names.map((n, i) => `${n} ${fmt.int(each[i] / calls)}`).join(', ')} µs/call`,
        );
      const ok = run.exitCode === 0 && counts.failed === 0 && counts.successful === calls;
      if (!ok) notes.push(`${label} ${rate}/s: ${failureSummary(run.errors) || `exit ${run.exitCode}`}`);
      rows.push([
        label,
        rate,
        calls,
        counts.successful,
        counts.failed,
        counts.retransmissions,
        run.peakConcurrent,
        pids.length > 0 ? fmt.int(cpuPerCall / calls) : '-',
        ...percentiles(run.rtt, 1),
        ...percentiles(run.rtt, 2),
      ]);
      process.stderr.write(
        `  ${label} ${rate}/s: ${counts.successful}/${calls} ok, ${counts.failed} failed\n`,
      );
      if (ok && counts.retransmissions === 0) clean = Math.max(clean ?? 0, rate);
      if (ok) {
        best = rate;
        failures = 0;
      } else if (++failures >= 2) break; // two failing steps in a row: past the knee
    } finally {
      await broker.stop();
    }
  }
  return { best, clean };
}

export async function main(): Promise<void> {
  const seconds = Number(flag('seconds', '5'));
  const rates = flag('rates', '25,50,100,200,300,400,600,800,1000').split(',').map(Number);
  const kamailioRates = flag('kamailio-rates', '200,400,800,1600,3200').split(',').map(Number);
  printHeader(
    'SIPp ramp: factory + join + leave (broker vs a Kamailio stateful stub)',
    `npm run bench -- sipp-ramp --seconds ${seconds} --rates ${rates.join(',')} --kamailio-rates ${kamailioRates.join(',')} --owner-link ${flag('owner-link', 'stream,unary')} --only ${flag('only', 'embedded,split,kamailio')}`,
  );
  process.stdout.write(
    [
      `each step: SIPp (sipp -sf test/interop/sipp/factory-join-bye.xml -r <rate> -m <rate × ${seconds}> -d ${PAUSE_MS}), UDP,`,
      `  ${TOPICS} topics, publishers and subscribers alternating, a fresh broker per step; SIPp and the broker share the machine.`,
      '  setup = factory INVITE → join 200 (ms), bye = BYE → 200 (ms); SIPp traces whole milliseconds.',
      '',
    ].join('\n'),
  );
  const rows: (string | number)[][] = [
    [
      'broker',
      'calls/s',
      'calls',
      'ok',
      'failed',
      'retrans',
      'peak',
      'cpu µs/call',
      'setup p50',
      'p90',
      'p99',
      'max',
      'bye p50',
      'p90',
      'p99',
      'max',
    ],
  ];
  // One SIPp source drives the whole ramp: the per-source budgets would cap it, not the broker.
  const unlimited = {
    SIP_RATE_PER_SOURCE: 'off',
    SIP_RATE_PER_SOURCE_IN_DIALOG: 'off',
    SIP_REJECT_RATE_PER_SOURCE: 'off',
  };
  const wide = () => {
    const range = relayPortRange(2_000);
    return {
      RELAY_PORT_MIN: String(range.min),
      RELAY_PORT_MAX: String(range.max),
      LOG_LEVEL: 'error',
      ...unlimited,
    };
  };
  const links = flag('owner-link', 'stream,unary').split(',');
  const only = new Set(flag('only', 'embedded,split,kamailio').split(','));
  const notes: string[] = [];
  const cpuNotes: string[] = [];
  const embedded: Record<string, { best?: number; clean?: number }> = {};
  const separate: Record<string, { best?: number; clean?: number }> = {};
  for (const link of links) {
    if (only.has('embedded'))
      embedded[link] = await ramp(
        `embedded ${link}`,
        () => startEmbedded({ ...wide(), OWNER_LINK: link }),
        rates,
        seconds,
        rows,
        notes,
      );
    if (only.has('split'))
      separate[link] = await ramp(
        `separate+NATS ${link}`,
        () =>
          startSeparateProcesses({
            relayPorts: 2_000,
            env: { LOG_LEVEL: 'error', ...unlimited, OWNER_LINK: link },
          }),
        rates,
        seconds,
        rows,
        notes,
        cpuNotes,
      );
  }
  const kamailio =
    KAMAILIO && only.has('kamailio')
      ? await ramp('kamailio stub', startKamailio, kamailioRates, seconds, rows, notes)
      : undefined;
  printTable(rows);
  const rate = (r: number | undefined) => (r === undefined ? 'none' : `${fmt.int(r)} calls/s`);
  const ratio = (ours: number | undefined) =>
    ours !== undefined && kamailio?.best ? fmt.fixed(ours / kamailio.best, 2) : '-';
  const lines = [''];
  for (const link of links) {
    const e = embedded[link];
    const p = separate[link];
    lines.push(
      `OWNER_LINK=${link}: highest rate with zero failed calls (of the rates tried): embedded ${rate(e?.best)}, separate processes ${rate(p?.best)}; and no SIP retransmission: embedded ${rate(e?.clean)}, separate ${rate(p?.clean)}`,
    );
    if (kamailio)
      lines.push(`  ratio to the Kamailio stub: embedded ${ratio(e?.best)}, separate ${ratio(p?.best)}`);
  }
  lines.push(
    kamailio
      ? `kamailio stub (tm, 2 children): ${rate(kamailio.best)} with zero failed calls (a ratio is a floor when our top rate passed)`
      : 'kamailio stub: not run (apt-get install -y kamailio, or --only without kamailio)',
  );
  if (cpuNotes.length > 0)
    lines.push('', 'CPU per call by process (separate processes):', ...cpuNotes.map((n) => `  ${n}`));
  if (notes.length > 0)
    lines.push('', "failed steps (from SIPp's error log):", ...notes.map((n) => `  ${n}`));
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
