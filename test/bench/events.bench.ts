// Event state benchmark (issue 9), embedded and as separate processes with nats-server:
//  1. PUBLISH transactions/s: SIPp runs test/interop/sipp/publish.xml (6 PUBLISH transactions per call:
//     initial, refresh, refused old tag, modify, remove, refused removed tag) at rising call rates; the
//     figure is transactions answered per second of the run at the highest rate with no failed call.
//  2. pubsub-data NOTIFYs/s delivered: W watchers (raw SIP over UDP, each NOTIFY answered 200) of one topic
//     and an RTP publisher sending P packs/s through the SDK for S seconds, NOTIFY_MIN_INTERVAL_MS=0 so every
//     record is its own NOTIFY; the figure is NOTIFYs received per second.
//  3. SUBSCRIBE+NOTIFY/s: SIPp runs test/bench/subscribe-any-order.xml at rising call rates (subscribe, full
//     NOTIFY, unsubscribe, final NOTIFY); the figure is SUBSCRIBE+NOTIFY exchanges per second.
// CPU per call: the broker processes' utime+stime over the step (/proc) over the calls made.
// Printed, never asserted.
// Run: npm run bench -- events [--seconds 5] [--rates 50,100,200] [--subscribe-rates 100,200] [--watchers 50]
//      [--owner-link stream,unary] (the edge's OWNER_LINK, one row each) [--only publish,subscribe,notify]
import { SipPubSubClient } from '@sip-pubsub/client';
import { callCounts, runSipp } from '../interop/sipp/sipp.js';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { createTopic, PACKS, RawEventWatcher } from '../support/raw-events.js';
import { SIPP_ENV } from './churn.bench.js';
import { fmt, printHeader, printTable } from './machine.js';
import { cpuUsOf } from './proc.js';

const TRANSACTIONS_PER_CALL = 6;
/** Takes the NOTIFY before or after the SUBSCRIBE's 200 (RFC 6665 §4.1.2.4), as a loaded broker sends it. */
const SUBSCRIBE_SCENARIO = '../../bench/subscribe-any-order.xml';
/** Failed calls a SUBSCRIBE step may have (see the printed note on SIPp's race). */
const SUBSCRIBE_TOLERANCE_PCT = 5;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function publishRamp(
  label: string,
  start: () => Promise<RunningBroker>,
  rates: number[],
  seconds: number,
  rows: (string | number)[][],
  scenario = 'publish.xml',
  perCall = TRANSACTIONS_PER_CALL,
  /** Failed calls a step may have and still count (percent of its calls). */
  tolerancePct = 0,
): Promise<number | undefined> {
  let best: number | undefined;
  for (const rate of rates) {
    const broker = await start();
    try {
      const conf = await createTopic(broker.sipPort, `bench/${scenario}/${rate}`);
      const calls = Math.round(rate * seconds);
      const pids = broker.services ? broker.services.map((p) => p.pid) : broker.pid ? [broker.pid] : [];
      const cpuBefore = await cpuUsOf(pids);
      const began = performance.now();
      const run = await runSipp({
        scenario,
        sipPort: broker.sipPort,
        calls,
        rate,
        limit: Math.max(50, rate * 2),
        keys: { conf, ...PACKS },
        timeoutS: Math.ceil(seconds + 60),
        recvTimeoutMs: 15_000,
      });
      const elapsed = (performance.now() - began) / 1000;
      const cpu = (await cpuUsOf(pids)) - cpuBefore;
      const counts = callCounts(run);
      const ok =
        counts.failed <= (calls * tolerancePct) / 100 &&
        counts.successful + counts.failed === calls &&
        (tolerancePct > 0 || run.exitCode === 0);
      const perSecond = (counts.successful * perCall) / elapsed;
      rows.push([
        label,
        rate,
        calls,
        counts.successful,
        counts.failed,
        counts.retransmissions,
        fmt.int(perSecond),
        pids.length > 0 ? fmt.int(cpu / calls) : '-',
      ]);
      process.stderr.write(`  ${label} ${rate} calls/s: ${counts.successful}/${calls} ok\n`);
      if (ok) best = Math.max(best ?? 0, perSecond);
      else break;
    } finally {
      await broker.stop();
    }
  }
  return best;
}

async function notifyRate(
  label: string,
  intervalMs: number,
  start: (env: Record<string, string>) => Promise<RunningBroker>,
  watchers: number,
  packsPerSecond: number,
  seconds: number,
  rows: (string | number)[][],
): Promise<number> {
  const broker = await start({ NOTIFY_MIN_INTERVAL_MS: String(intervalMs) });
  const open: RawEventWatcher[] = [];
  let client: SipPubSubClient | undefined;
  try {
    client = await SipPubSubClient.connect({ server: `127.0.0.1:${broker.sipPort}`, user: 'bench-pub' });
    const publisher = await client.publisher('bench/notify/temp');
    for (let i = 0; i < watchers; i++)
      open.push(await RawEventWatcher.subscribe(broker.sipPort, publisher.conferenceUri, { user: `w${i}` }));
    await new Promise((r) => setTimeout(r, 500));
    const before = open.reduce((n, w) => n + w.notifies.length, 0);
    const recordsBefore = open.reduce((n, w) => n + w.records().length, 0);
    const began = performance.now();
    const total = Math.round(packsPerSecond * seconds);
    for (let i = 0; i < total; i++) {
      await publisher.publish([{ n: 'urn:dev:bench:temp', v: i }]);
      const due = began + ((i + 1) * 1000) / packsPerSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await new Promise((r) => setTimeout(r, 1_000)); // let the last NOTIFYs arrive
    const elapsed = (performance.now() - began) / 1000;
    const received = open.reduce((n, w) => n + w.notifies.length, 0) - before;
    const records = open.reduce((n, w) => n + w.records().length, 0) - recordsBefore;
    const rate = received / elapsed;
    rows.push([
      label,
      intervalMs,
      watchers,
      packsPerSecond,
      total * watchers,
      received,
      fmt.int(rate),
      records,
      fmt.int(records / elapsed),
    ]);
    return rate;
  } finally {
    for (const w of open) w.close();
    await client?.close().catch(() => undefined);
    await broker.stop();
  }
}

export async function main(): Promise<void> {
  const seconds = Number(flag('seconds', '5'));
  const rates = flag('rates', '50,100,200,400').split(',').map(Number);
  const subscribeRates = flag('subscribe-rates', '100,200,400,800,1200').split(',').map(Number);
  const watchers = Number(flag('watchers', '50'));
  const packs = Number(flag('packs', '40'));
  const links = flag('owner-link', 'stream').split(',');
  const only = new Set(flag('only', 'publish,subscribe,notify').split(','));
  printHeader(
    'Event state: PUBLISH transactions/s, SUBSCRIBE+NOTIFY/s and pubsub-data NOTIFYs/s',
    `npm run bench -- events --seconds ${seconds} --rates ${rates.join(',')} --subscribe-rates ${subscribeRates.join(',')} --watchers ${watchers} --packs ${packs} --owner-link ${links.join(',')} --only ${[...only].join(',')}`,
  );
  // SIPp drives everything from one address: the edge's per-source budgets would measure themselves.
  const quiet = { LOG_LEVEL: 'error', ...SIPP_ENV };
  const embedded = (env: Record<string, string> = {}) => startEmbedded({ ...quiet, ...env });
  const separate = (env: Record<string, string> = {}) =>
    startSeparateProcesses({ env: { ...quiet, ...env } });
  const show = (n: number | undefined) => (n === undefined ? 'none' : fmt.int(n));
  const summary: string[] = [''];

  if (only.has('publish')) {
    process.stdout.write(
      `PUBLISH: sipp -sf test/interop/sipp/publish.xml -r <calls/s> -m <calls/s × ${seconds}>, ${TRANSACTIONS_PER_CALL} PUBLISH transactions per call, one topic, a fresh broker per step\n`,
    );
    const publishRows: (string | number)[][] = [
      ['broker', 'calls/s', 'calls', 'ok', 'failed', 'retrans', 'PUBLISH/s', 'cpu µs/call'],
    ];
    for (const link of links) {
      const env = { OWNER_LINK: link };
      const pe = await publishRamp(`embedded ${link}`, () => embedded(env), rates, seconds, publishRows);
      const ps = await publishRamp(`separate+NATS ${link}`, () => separate(env), rates, seconds, publishRows);
      summary.push(
        `OWNER_LINK=${link}: PUBLISH transactions/s at the highest clean rate tried: embedded ${show(pe)}, separate processes ${show(ps)}`,
      );
    }
    printTable(publishRows);
  }

  if (only.has('subscribe')) {
    process.stdout.write(
      [
        '',
        'SUBSCRIBE+NOTIFY: sipp -sf test/bench/subscribe-any-order.xml -r <calls/s>, per call a conference-package SUBSCRIBE + 200 + full',
        '  NOTIFY + 200, then Expires: 0 + 200 + terminated NOTIFY + 200 (2 exchanges; NOTIFY before or after the 200), one topic, a fresh',
        '  broker per step; a step counts with at most 5% failed calls (SIPp aborts a call when the 200 lands while it answers an',
        '  early NOTIFY: a race of the load generator, not of the broker)',
        '',
      ].join('\n'),
    );
    const subscribeRows: (string | number)[][] = [
      ['broker', 'calls/s', 'calls', 'ok', 'failed', 'retrans', 'SUB+NOTIFY/s', 'cpu µs/call'],
    ];
    for (const link of links) {
      const env = { OWNER_LINK: link };
      const se = await publishRamp(
        `embedded ${link}`,
        () => embedded(env),
        subscribeRates,
        seconds,
        subscribeRows,
        SUBSCRIBE_SCENARIO,
        2,
        SUBSCRIBE_TOLERANCE_PCT,
      );
      const ss = await publishRamp(
        `separate+NATS ${link}`,
        () => separate(env),
        subscribeRates,
        seconds,
        subscribeRows,
        SUBSCRIBE_SCENARIO,
        2,
        SUBSCRIBE_TOLERANCE_PCT,
      );
      summary.push(
        `OWNER_LINK=${link}: SUBSCRIBE+NOTIFY exchanges/s at the highest rate tried with ≤ 5% failed calls: embedded ${show(se)}, separate processes ${show(ss)}`,
      );
    }
    printTable(subscribeRows);
  }

  if (only.has('notify')) {
    process.stdout.write(
      `\npubsub-data: ${watchers} watchers of one topic, an RTP publisher at ${packs} packs/s for ${seconds} s; interval = NOTIFY_MIN_INTERVAL_MS (0: a NOTIFY per record, 200: the default, records merged)\n`,
    );
    const notifyRows: (string | number)[][] = [
      ['broker', 'interval', 'watchers', 'packs/s', 'offered', 'NOTIFYs', 'NOTIFY/s', 'records', 'records/s'],
    ];
    for (const link of links) {
      const env = (e: Record<string, string>) => ({ ...e, OWNER_LINK: link });
      const ne = await notifyRate(
        `embedded ${link}`,
        0,
        (e) => embedded(env(e)),
        watchers,
        packs,
        seconds,
        notifyRows,
      );
      const ns = await notifyRate(
        `separate+NATS ${link}`,
        0,
        (e) => separate(env(e)),
        watchers,
        packs,
        seconds,
        notifyRows,
      );
      await notifyRate(
        `embedded ${link}`,
        200,
        (e) => embedded(env(e)),
        watchers,
        packs,
        seconds,
        notifyRows,
      );
      await notifyRate(
        `separate+NATS ${link}`,
        200,
        (e) => separate(env(e)),
        watchers,
        packs,
        seconds,
        notifyRows,
      );
      summary.push(
        `OWNER_LINK=${link}: pubsub-data NOTIFYs/s delivered (interval 0): embedded ${show(ne)}, separate processes ${show(ns)}`,
      );
    }
    printTable(notifyRows);
  }
  process.stdout.write(`${summary.join('\n')}\n\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
