// REFER dial-out benchmark (issue 8), embedded and as separate processes with nats-server: SIPp as the
// chair sends REFER <conf URI> with Refer-To the dialled party (test/interop/sipp/refer-referrer.xml: 202,
// NOTIFY 100 Trying, NOTIFY 200 OK), and a second SIPp plays that party (refer-dialled-hangup.xml:
// answers the focus's INVITE, stays HOLD ms, hangs up). Each step is a fresh broker at one REFER rate;
// the figure is dial-outs completed (final sipfrag 200 received) per second of the step, at the highest
// rate with no failed call. Printed, never asserted.
// Run: npm run bench -- dial-out [--seconds 5] [--rates 10,20,40,80]
import { freePort } from '@sip-pubsub/platform';
import { callCounts, runSipp } from '../interop/sipp/sipp.js';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { DialInParty } from '../support/dial-in-party.js';
import { createTopicAs } from '../support/refer-peers.js';
import { fmt, printHeader, printTable } from './machine.js';

const HOLD_MS = 500;

/**
 * Waits until the broker can place a relay leg (a fresh broker's focus may not see a relay yet, and a
 * dial-out then fails with `503 No Media Relay Available`): one dial-in join that gets 200, then its BYE.
 */
async function warmUp(broker: RunningBroker, conf: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = 'none';
  for (;;) {
    const party = await DialInParty.open('warm-up');
    try {
      const res = await party.invite(broker.sipPort, conf, 'sendonly');
      if (res.status === 200) {
        await party.inDialog(broker.sipPort, 'BYE');
        return;
      }
      last = `${res.status} ${res.reason}`;
    } catch (err) {
      last = (err as Error).message;
    } finally {
      party.close();
    }
    if (Date.now() > deadline) throw new Error(`broker placed no relay leg within 60 s (last: ${last})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function ramp(
  label: string,
  start: () => Promise<RunningBroker>,
  rates: number[],
  seconds: number,
  rows: (string | number)[][],
): Promise<number | undefined> {
  let best: number | undefined;
  for (const rate of rates) {
    const broker = await start();
    try {
      const conf = await createTopicAs(broker.sipPort, `bench/dial-out/${rate}`, 'chair');
      await warmUp(broker, conf);
      const calls = Math.round(rate * seconds);
      const partyPort = await freePort('udp');
      const party = runSipp({
        scenario: 'refer-dialled-hangup.xml',
        sipPort: broker.sipPort,
        calls,
        localPort: partyPort,
        pauseMs: HOLD_MS,
        keys: { dir: 'recvonly' },
        timeoutS: Math.ceil(seconds + 90),
        recvTimeoutMs: 20_000,
      });
      const began = performance.now();
      const referrer = await runSipp({
        scenario: 'refer-referrer.xml',
        sipPort: broker.sipPort,
        calls,
        rate,
        limit: Math.max(50, rate * 4),
        keys: { conf, user: 'chair', target: `<sip:dialled@127.0.0.1:${partyPort}>` },
        timeoutS: Math.ceil(seconds + 60),
        recvTimeoutMs: 20_000,
      });
      const elapsed = (performance.now() - began) / 1000;
      const dialled = await party;
      const counts = callCounts(referrer);
      const partyCounts = callCounts(dialled);
      const ok = referrer.exitCode === 0 && counts.failed === 0 && counts.successful === calls;
      const perSecond = counts.successful / elapsed;
      rows.push([
        label,
        rate,
        calls,
        counts.successful,
        counts.failed,
        partyCounts.successful,
        counts.retransmissions,
        fmt.int(perSecond),
      ]);
      process.stderr.write(`  ${label} ${rate} REFER/s: ${counts.successful}/${calls} dial-outs completed\n`);
      if (ok) best = Math.max(best ?? 0, perSecond);
      else {
        process.stderr.write(`  first SIPp errors of the failed step:\n${referrer.errors.slice(0, 1500)}\n`);
        break;
      }
    } finally {
      await broker.stop();
    }
  }
  return best;
}

export async function main(): Promise<void> {
  const seconds = Number(flag('seconds', '5'));
  const rates = flag('rates', '10,20,40,80').split(',').map(Number);
  printHeader(
    'REFER dial-out: dial-outs completed per second (SIPp referrer and SIPp dialled party)',
    `npm run bench -- dial-out --seconds ${seconds} --rates ${rates.join(',')}`,
  );
  // One SIPp address sends every REFER and answers every INVITE: the per-source limits would count it as one caller.
  const env = { LOG_LEVEL: 'error', SIP_RATE_PER_SOURCE: 'off', SIP_RATE_PER_SOURCE_IN_DIALOG: 'off' };
  process.stdout.write(
    `sipp -sf refer-referrer.xml -r <REFER/s> -m <REFER/s × ${seconds}> against sipp -sf refer-dialled-hangup.xml -d ${HOLD_MS}, one conference, a fresh broker per step\n`,
  );
  const rows: (string | number)[][] = [
    ['broker', 'REFER/s', 'REFERs', 'ok', 'failed', 'party calls', 'retrans', 'dial-outs/s'],
  ];
  const e = await ramp('embedded', () => startEmbedded(env), rates, seconds, rows);
  const s = await ramp('separate+NATS', () => startSeparateProcesses({ env }), rates, seconds, rows);
  printTable(rows);
  process.stdout.write(
    `\ndial-out rate (highest step with no failed REFER): embedded ${e === undefined ? 'none' : fmt.int(e)}/s, separate+NATS ${s === undefined ? 'none' : fmt.int(s)}/s\n`,
  );
}
