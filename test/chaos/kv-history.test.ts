// Issue 7, defect 7 (KV history): every join/leave and subscribe/unsubscribe used to leave a delete
// marker that was never purged, and joins and SUBSCRIBEs listed keys, walking those markers, so they
// slowed down with the history of the broker. Here 1,000 cycles of each run against separate processes
// and a real nats-server; join and SUBSCRIBE latency at the start and at the end must stay flat, and the
// buckets must hold about as many messages as live keys.
import { connect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { ProbeUa } from '../support/probe-ua.js';

const CYCLES = 1_000;
const SAMPLE = 40;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

describe('KV history: latency stays flat and delete markers are purged', () => {
  let broker: RunningBroker;
  let ua: ProbeUa;
  beforeAll(async () => {
    broker = await startSeparateProcesses();
    ua = await ProbeUa.open();
  }, 60_000);
  afterAll(async () => {
    ua?.close();
    await broker?.stop();
  });

  const streamMessages = async (): Promise<Record<string, number>> => {
    const nc = await connect({ servers: broker.natsUrl!.split(',') });
    try {
      const jsm = await nc.jetstreamManager();
      const out: Record<string, number> = {};
      for (const bucket of ['participants', 'subscriptions', 'indexes']) {
        const info = await jsm.streams.info(`KV_${bucket}`).catch(() => undefined);
        out[bucket] = info?.state.messages ?? 0;
      }
      return out;
    } finally {
      await nc.close();
    }
  };

  it(`${CYCLES} join/leave and subscribe/unsubscribe cycles: flat latency, bounded markers`, async () => {
    const port = broker.sipPort;
    const conference = await ua.conference(port, 'plant-1/history/temp');
    expect(conference).toMatch(/^sip:conf-/);
    const conf = conference!;

    const joinMs: number[] = [];
    const subscribeMs: number[] = [];
    const directoryMs: number[] = [];
    const failures: string[] = [];
    const cycle = async (i: number) => {
      const join = await ua.join(port, conf);
      if (join.response?.status !== 200 || !join.leave) failures.push(`join ${i}: ${join.response?.status}`);
      else {
        joinMs.push(join.ms);
        const bye = await join.leave();
        if (bye.response?.status !== 200) failures.push(`bye ${i}: ${bye.response?.status}`);
      }
      const sub = await ua.subscribe(port, conf);
      if (sub.response?.status !== 200 || !sub.unsubscribe)
        failures.push(`subscribe ${i}: ${sub.response?.status}`);
      else {
        subscribeMs.push(sub.ms);
        const un = await sub.unsubscribe();
        if (un.response?.status !== 200) failures.push(`unsubscribe ${i}: ${un.response?.status}`);
      }
    };
    const directory = async () => {
      const sub = await ua.subscribe(port, 'sip:factory@localhost', 'pubsub-conferences');
      if (sub.response?.status === 200 && sub.unsubscribe) {
        directoryMs.push(sub.ms);
        await sub.unsubscribe();
      } else failures.push(`directory subscribe: ${sub.response?.status}`);
    };

    const started = Date.now();
    for (let i = 0; i < CYCLES; i++) {
      await cycle(i);
      if (i < 5 || i >= CYCLES - 5) await directory();
      if (Date.now() - started > 70_000) break; // bounded: report what was done
    }
    const done = joinMs.length;
    const before = await streamMessages();
    // Past the marker grace (2 s), every delete has been purged.
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await streamMessages();

    const firstJoin = median(joinMs.slice(0, SAMPLE));
    const lastJoin = median(joinMs.slice(-SAMPLE));
    const firstSub = median(subscribeMs.slice(0, SAMPLE));
    const lastSub = median(subscribeMs.slice(-SAMPLE));
    const firstDir = median(directoryMs.slice(0, 5));
    const lastDir = median(directoryMs.slice(-5));
    console.log(
      `[kv-history] ${done} cycles in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
        `join median ${firstJoin.toFixed(1)} ms (first ${SAMPLE}) → ${lastJoin.toFixed(1)} ms (last ${SAMPLE}); ` +
        `SUBSCRIBE ${firstSub.toFixed(1)} → ${lastSub.toFixed(1)} ms; directory SUBSCRIBE ${firstDir.toFixed(1)} → ${lastDir.toFixed(1)} ms; ` +
        `stream messages right after the cycles ${JSON.stringify(before)}, 3 s later ${JSON.stringify(after)}; ` +
        `failures ${failures.length}`,
    );
    expect(failures.slice(0, 10)).toEqual([]);
    expect(done).toBeGreaterThanOrEqual(200);
    // Flat: generous bounds for a shared machine, far below the growth a bucket walk gives.
    expect(lastJoin).toBeLessThan(Math.max(3 * firstJoin, firstJoin + 30));
    expect(lastSub).toBeLessThan(Math.max(3 * firstSub, firstSub + 30));
    // Nothing is live but the conference's index record(s): no markers left behind.
    expect(after.participants).toBeLessThanOrEqual(2);
    expect(after.subscriptions).toBeLessThanOrEqual(2);
    expect(after.indexes).toBeLessThanOrEqual(4);
  }, 90_000);
});
