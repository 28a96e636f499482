// SIPp ramp: factory INVITE → 302 → join → (1 s) → BYE at increasing call rates, against the embedded
// broker and against the four services as separate processes with nats-server. For each rate: calls,
// failures, retransmissions, and the response-time distribution SIPp traced (-trace_rtt): counter 1 is
// factory INVITE → join 200 (lookup, redirect, join, relay leg), counter 2 is BYE → 200. Reports the
// highest rate with zero failed calls. Printed, never asserted.
// Run: npm run bench -- sipp-ramp [--seconds 5] [--rates 25,50,100,200,400]
import * as hdr from 'hdr-histogram-js';
import { callCounts, type ResponseTime, runSipp } from '../interop/sipp/sipp.js';
import {
  type RunningBroker,
  relayPortRange,
  startEmbedded,
  startSeparateProcesses,
} from '../support/brokers.js';
import { fmt, printHeader, printTable } from './machine.js';

const PAUSE_MS = 1_000;
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

async function ramp(
  label: string,
  start: () => Promise<RunningBroker>,
  rates: number[],
  seconds: number,
  rows: (string | number)[][],
): Promise<{ best?: number; clean?: number }> {
  let best: number | undefined;
  let clean: number | undefined;
  let failures = 0;
  for (const rate of rates) {
    // A fresh broker per step, so one step's leftovers (retransmissions, half-closed calls) do not load the next.
    const broker = await start();
    try {
      const calls = Math.round(rate * seconds);
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
      const ok = run.exitCode === 0 && counts.failed === 0 && counts.successful === calls;
      rows.push([
        label,
        rate,
        calls,
        counts.successful,
        counts.failed,
        counts.retransmissions,
        run.peakConcurrent,
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
  const rates = flag('rates', '25,50,100,200,300,400,600').split(',').map(Number);
  printHeader(
    'SIPp ramp: factory + join + leave',
    `npm run bench -- sipp-ramp --seconds ${seconds} --rates ${rates.join(',')}`,
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
  const unlimited = { SIP_RATE_PER_SOURCE: 'off', SIP_RATE_PER_SOURCE_IN_DIALOG: 'off' };
  const wide = () => {
    const range = relayPortRange(2_000);
    return {
      RELAY_PORT_MIN: String(range.min),
      RELAY_PORT_MAX: String(range.max),
      LOG_LEVEL: 'error',
      ...unlimited,
    };
  };
  const embedded = await ramp('embedded', () => startEmbedded(wide()), rates, seconds, rows);
  const separate = await ramp(
    'separate+NATS',
    () => startSeparateProcesses({ relayPorts: 2_000, env: { LOG_LEVEL: 'error', ...unlimited } }),
    rates,
    seconds,
    rows,
  );
  printTable(rows);
  const rate = (r: number | undefined) => (r === undefined ? 'none' : `${fmt.int(r)} calls/s`);
  process.stdout.write(
    [
      '',
      `highest rate with zero failed calls (of the rates tried): embedded ${rate(embedded.best)}, separate processes ${rate(separate.best)}`,
      `highest rate with zero failed calls and no SIP retransmission: embedded ${rate(embedded.clean)}, separate processes ${rate(separate.clean)}`,
      '',
    ].join('\n'),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
