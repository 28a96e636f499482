// Idle CPU after churn (issue 11 item 4): the four services as separate processes with nats-server; SIPp
// runs N factory+join+BYE calls and N SUBSCRIBE+unsubscribe dialogs on one topic, then nothing happens and
// the CPU share of every service process and of nats-server is read from /proc over consecutive windows.
// A broker with nothing to do should return to ~0; a figure that stays up after the churn points at work
// that grows with history (sweeps, scans, replays). Printed, never asserted.
// Run: npm run bench -- churn [--churn 2000] [--rate 100] [--window 5] [--windows 6] [--replicas 1]
import { callCounts, runSipp } from '../interop/sipp/sipp.js';
import { startSeparateProcesses } from '../support/brokers.js';
import { createTopic } from '../support/raw-events.js';
import { fmt, printHeader, printTable } from './machine.js';
import { cpuPercentOver, pidByCommand } from './proc.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** SIPp from one address: the per-source limits of the edge would refuse it. */
export const SIPP_ENV = {
  SIP_RATE_PER_SOURCE: 'off',
  SIP_RATE_PER_SOURCE_IN_DIALOG: 'off',
  SIP_REJECT_RATE_PER_SOURCE: 'off',
};

export async function main(): Promise<void> {
  const churn = flag('churn', 2_000);
  const rate = flag('rate', 100);
  const windowS = flag('window', 5);
  const windows = flag('windows', 6);
  const replicas = flag('replicas', 1);
  printHeader(
    'Idle CPU after churn (separate processes + nats-server)',
    `npm run bench -- churn --churn ${churn} --rate ${rate} --window ${windowS} --windows ${windows} --replicas ${replicas}`,
  );
  const broker = await startSeparateProcesses({ env: SIPP_ENV, replicas });
  try {
    const natsPort = new URL(broker.natsUrl!).port;
    const natsPid = await pidByCommand('nats-server', ['-p', natsPort]);
    const procs = [
      ...(broker.services ?? []).map((s) => ({ name: s.instanceId, pid: s.pid })),
      ...(natsPid ? [{ name: 'nats-server', pid: natsPid }] : []),
    ];
    const pids = procs.map((p) => p.pid);
    const columns: string[] = [];
    const samples: number[][] = [];
    const sample = async (label: string) => {
      columns.push(label);
      samples.push(await cpuPercentOver(pids, windowS * 1000));
    };
    await sample('idle before');
    const conf = await createTopic(broker.sipPort, 'bench/churn/watched');
    const t0 = performance.now();
    const joins = await runSipp({
      scenario: 'factory-join-bye.xml',
      sipPort: broker.sipPort,
      calls: churn,
      rate,
      limit: Math.max(50, rate * 4),
      pauseMs: 200,
      injection: Array.from(
        { length: churn },
        (_, i) =>
          `bench/churn/${i % 50};${i % 2 === 0 ? 'sendonly' : 'recvonly'};${40_000 + 2 * (i % 5_000)}`,
      ),
      timeoutS: Math.ceil(churn / rate + 120),
      recvTimeoutMs: 15_000,
    });
    const subs = await runSipp({
      scenario: 'subscribe.xml',
      sipPort: broker.sipPort,
      calls: churn,
      rate,
      limit: Math.max(50, rate * 4),
      keys: { conf },
      timeoutS: Math.ceil(churn / rate + 120),
      recvTimeoutMs: 15_000,
    });
    const churnS = (performance.now() - t0) / 1000;
    const j = callCounts(joins);
    const s = callCounts(subs);
    for (let w = 1; w <= windows; w++) await sample(`+${w * windowS}s`);
    process.stdout.write(
      `churn: ${fmt.int(j.successful)}/${fmt.int(churn)} joins+leaves ok (${j.failed} failed), ` +
        `${fmt.int(s.successful)}/${fmt.int(churn)} subscribe+unsubscribe ok (${s.failed} failed), ` +
        `in ${fmt.fixed(churnS, 1)} s at ${rate} calls/s\n`,
    );
    process.stdout.write(
      `CPU % of one core over ${windowS} s windows (idle before, then after the churn):\n`,
    );
    printTable([
      ['process', ...columns],
      ...procs.map((p, i) => [p.name, ...samples.map((row) => fmt.fixed(row[i], 1))]),
    ]);
  } finally {
    await broker.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
