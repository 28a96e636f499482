// Issue 7 defect 5: a flood of factory INVITEs from one source (127.0.0.2) at well over ten times what the
// edge can route, while a legitimate user (127.0.0.1) joins once per second: factory INVITE → 302 → ACK,
// join INVITE → 200 → ACK, BYE → 200, retransmitting as an RFC 3261 UAC does. Goal: ≥ 99% of the joins
// succeed, the flooder gets 503s, and no 503 is ever retransmitted (they are stateless).
// Measured with this file on the code before the pre-parse gate (2-core shared machine):
//   default 2000:4000 limit, 10k/s flood: embedded 9/16 joins (56%), separate 10/15 (67%), no 503 at all
//   (the edge parsed ~1.3k/s and the kernel dropped the rest, legit datagrams with them);
//   limit 200:400 after parsing, 15k/s: 10/15 (67%) both, 49k / 108k retransmitted 503s.
// With the gate, 15k/s: 15/15 and 16/16, ~800 503s (their own budget), none retransmitted; 74k/s
// (FLOOD_RATE=80000 FLOOD_MS=10000): 10/10 embedded.
import * as dgram from 'node:dgram';
import { freePort } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  processAlive,
  type RunningBroker,
  startEmbedded,
  startSeparateProcesses,
} from '../support/brokers.js';
import { RawSipSocket, token } from '../support/raw-sip.js';
import { type JoinOutcome, joinAndLeave, metricSum } from './raw-peers.js';

const FLOOD_MS = Number(process.env.FLOOD_MS ?? 15_000);
/** Datagrams per second: ten times what the edge routes here with no limit (~1,200-1,500/s, see README). */
const FLOOD_RATE = Number(process.env.FLOOD_RATE ?? 15_000);
const FLOODER = '127.0.0.2';
/** The edge's default budget of stateless 503s per source (SIP_REJECT_RATE_PER_SOURCE 50:100). */
const REJECT_RATE = 50;
const REJECT_BURST = 100;

interface FloodTally {
  sent: number;
  byStatus: Map<number, number>;
  /** Final responses seen again for the same Call-ID: retransmissions, by status. */
  repeats: Map<number, number>;
}

async function flood(sipPort: number, ms: number, rate: number): Promise<FloodTally> {
  const tally: FloodTally = { sent: 0, byStatus: new Map(), repeats: new Map() };
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, FLOODER, resolve));
  const port = socket.address().port;
  const seen = new Map<string, number>();
  socket.on('message', (m) => {
    const text = m.toString('latin1');
    const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1]);
    if (!status) return;
    tally.byStatus.set(status, (tally.byStatus.get(status) ?? 0) + 1);
    if (status < 200) return;
    const key = `${/\r\nCall-ID: *([^\r\n]+)/i.exec(text)?.[1]}|${status}`;
    const count = (seen.get(key) ?? 0) + 1;
    seen.set(key, count);
    if (count > 1) tally.repeats.set(status, (tally.repeats.get(status) ?? 0) + 1);
  });
  const prefix = token(4);
  const packet = (i: number) =>
    Buffer.from(
      'INVITE sip:factory@localhost SIP/2.0\r\n' +
        `Via: SIP/2.0/UDP ${FLOODER}:${port};branch=z9hG4bK${prefix}${i};rport\r\n` +
        'Max-Forwards: 70\r\n' +
        `From: <sip:flood@${FLOODER}>;tag=f${i}\r\n` +
        'To: <sip:factory@localhost>\r\n' +
        `Call-ID: flood-${prefix}-${i}\r\n` +
        'CSeq: 1 INVITE\r\n' +
        `Contact: <sip:flood@${FLOODER}:${port}>\r\n` +
        `Subject: flood/topic-${i % 50}\r\n` +
        'Content-Length: 0\r\n\r\n',
    );
  const started = Date.now();
  for (;;) {
    const elapsed = Date.now() - started;
    if (elapsed >= ms) break;
    // Catch up with the target rate, at most 200 datagrams per turn of the event loop.
    const due = Math.min(Math.floor((elapsed * rate) / 1000) - tally.sent, 200);
    for (let i = 0; i < due; i++) socket.send(packet(tally.sent++), sipPort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 2));
  }
  // Responses still in flight, and any retransmission of a 503 (Timer G would fire at 500 ms, 1 s, 2 s).
  await new Promise((r) => setTimeout(r, 3_000));
  socket.close();
  return tally;
}

async function legitimateJoins(sipPort: number, ms: number): Promise<JoinOutcome[]> {
  const sip = await RawSipSocket.open();
  const joins: Promise<JoinOutcome>[] = [];
  const started = Date.now();
  try {
    for (let i = 0; Date.now() - started < ms; i++) {
      joins.push(
        joinAndLeave(sip, sipPort, `legit/topic-${i % 3}`, { user: `legit-${i}`, timeoutMs: 12_000 }),
      );
      await new Promise((r) => setTimeout(r, Math.max(0, started + (i + 1) * 1_000 - Date.now())));
    }
    return await Promise.all(joins);
  } finally {
    sip.close();
  }
}

function report(label: string, joins: JoinOutcome[], tally: FloodTally, seconds: number): number {
  const ok = joins.filter((j) => j.ok);
  const percent = (100 * ok.length) / joins.length;
  const times = ok.map((j) => j.ms).sort((a, b) => a - b);
  const failures = joins.filter((j) => !j.ok).map((j) => j.failure);
  console.log(
    `[flood ${label}] flooder ${FLOODER}: ${tally.sent} factory INVITEs in ${seconds} s ` +
      `(${Math.round(tally.sent / seconds)}/s); answers ${JSON.stringify(Object.fromEntries(tally.byStatus))}; ` +
      `503 retransmissions ${tally.repeats.get(503) ?? 0}, other final retransmissions ${JSON.stringify(Object.fromEntries([...tally.repeats].filter(([s]) => s !== 503)))}`,
  );
  console.log(
    `[flood ${label}] legit 127.0.0.1: ${ok.length}/${joins.length} joins succeeded (${percent.toFixed(1)}%), ` +
      `median ${times[Math.floor(times.length / 2)] ?? '-'} ms, max ${times.at(-1) ?? '-'} ms; failures ${JSON.stringify(failures)}`,
  );
  return percent;
}

describe('flood from 127.0.0.2 while 127.0.0.1 joins, embedded broker', () => {
  let broker: RunningBroker;
  let httpPort: number;
  beforeAll(async () => {
    httpPort = await freePort('tcp');
    broker = await startEmbedded({ HTTP_PORT: String(httpPort) });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('keeps ≥ 99% of the legitimate joins and answers the flooder with stateless 503s', async () => {
    const [tally, joins] = await Promise.all([
      flood(broker.sipPort, FLOOD_MS, FLOOD_RATE),
      legitimateJoins(broker.sipPort, FLOOD_MS),
    ]);
    const percent = report('embedded', joins, tally, FLOOD_MS / 1000);
    console.log(
      `[flood embedded] edge refused before parsing: ${await metricSum(httpPort, 'sip_pubsub_sip_preparse_refused_total')}, ` +
        `refused after parsing: ${await metricSum(httpPort, 'sip_pubsub_sip_refused_requests_total')}`,
    );
    expect(processAlive(broker.pid), broker.logs()).toBe(true);
    expect(joins.length).toBeGreaterThanOrEqual(Math.floor(FLOOD_MS / 1000) - 1);
    expect(tally.byStatus.get(503) ?? 0).toBeGreaterThan(0);
    expect(tally.repeats.get(503) ?? 0).toBe(0);
    // The 503s are rate-limited themselves, so they cannot be a reflection vector (10% slack for timing).
    expect(tally.byStatus.get(503) ?? 0).toBeLessThanOrEqual(
      1.1 * (REJECT_BURST + (REJECT_RATE * FLOOD_MS) / 1000),
    );
    expect(percent).toBeGreaterThanOrEqual(99);
  });
});

describe('flood from 127.0.0.2 while 127.0.0.1 joins, separate processes with nats-server', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startSeparateProcesses();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('keeps ≥ 99% of the legitimate joins; every process keeps its PID', async () => {
    const pids = broker.services!.map((s) => s.pid);
    const edge = broker.services!.find((s) => s.name === 'signalling-edge')!;
    const [tally, joins] = await Promise.all([
      flood(broker.sipPort, FLOOD_MS, FLOOD_RATE),
      legitimateJoins(broker.sipPort, FLOOD_MS),
    ]);
    const percent = report('separate', joins, tally, FLOOD_MS / 1000);
    console.log(
      `[flood separate] edge refused before parsing: ${await metricSum(edge.httpPort, 'sip_pubsub_sip_preparse_refused_total')}`,
    );
    expect(
      pids.filter((p) => processAlive(p)),
      broker.logs(),
    ).toEqual(pids);
    expect(tally.byStatus.get(503) ?? 0).toBeGreaterThan(0);
    expect(tally.repeats.get(503) ?? 0).toBe(0);
    expect(percent).toBeGreaterThanOrEqual(99);
  });
});
