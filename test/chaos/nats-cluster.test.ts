// Issue 7, defect 9 (NATS as a cluster): the services run against a three-node JetStream cluster (routes,
// one cluster name, a store dir per node, buckets at replicas 3), connected to all three URLs. While
// publications flow and a probe joins every 200 ms, the node that leads the participants bucket is
// killed with SIGKILL: every publication must reach every subscriber and no request may fail.
import { type SenmlPack, SipPubSubClient } from '@sip-pubsub/client';
import { connect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { ProbeUa } from '../support/probe-ua.js';

describe('a three-node NATS cluster loses a node during traffic', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    // A bucket whose leader died answers again after its election (up to ~9 s): owners get that long.
    broker = await startSeparateProcesses({
      natsCluster: true,
      replicas: 2,
      env: { ROUTE_TIMEOUT_MS: '15000' },
    });
  }, 90_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('loses no publication and fails no join', async () => {
    const port = broker.sipPort;
    const clients: SipPubSubClient[] = [];
    const ua = await ProbeUa.open();
    try {
      const nc = await connect({ servers: broker.natsUrl!.split(',') });
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info('KV_participants');
      const leader = info.cluster?.leader;
      await nc.close();
      expect(info.config.num_replicas).toBe(3);
      const victim = broker.natsNodes!.find((n) => n.name === leader) ?? broker.natsNodes![0];

      const topic = 'plant-4/cluster/flow';
      const client = async (user: string) => {
        const c = await SipPubSubClient.connect({
          server: `127.0.0.1:${port}`,
          user,
          requestTimeoutMs: 8_000,
        });
        clients.push(c);
        return c;
      };
      // Right after start the focus may not see a relay's channel ready yet (503): wait until it does.
      const pubClient = await client('pub');
      let publisher: Awaited<ReturnType<SipPubSubClient['publisher']>> | undefined;
      for (let attempt = 0; !publisher; attempt++) {
        try {
          publisher = await pubClient.publisher(topic);
        } catch (err) {
          if (attempt >= 20 || !/503/.test((err as Error).message)) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      const received: Set<number>[] = [];
      for (let i = 0; i < 2; i++) {
        const sub = await (await client(`sub-${i}`)).subscriber(topic);
        const values = new Set<number>();
        sub.on('pack', (pack: SenmlPack) => {
          for (const r of pack) if (typeof r.v === 'number') values.add(r.v);
        });
        received.push(values);
      }
      const conference = (await ua.conference(port, 'plant-4/cluster/joins'))!;
      expect(conference).toMatch(/^sip:conf-/);

      let sent = 0;
      const publishing = (async () => {
        const end = Date.now() + 14_000;
        while (Date.now() < end) {
          await publisher.publish([{ n: 'urn:dev:x:flow', v: sent }]);
          sent++;
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const joins: { status: number | 'timeout'; ms: number; at: number }[] = [];
      const joining = (async () => {
        const pending: Promise<void>[] = [];
        const end = Date.now() + 14_000;
        while (Date.now() < end) {
          const at = Date.now();
          pending.push(
            ua.join(port, conference, { timeoutMs: 10_000 }).then(async (r) => {
              joins.push({ status: r.response?.status ?? 'timeout', ms: r.ms, at });
              if (r.leave) await r.leave();
            }),
          );
          await new Promise((r) => setTimeout(r, 200));
        }
        await Promise.all(pending);
      })();

      await new Promise((r) => setTimeout(r, 4_000));
      const killedAt = Date.now();
      await victim.kill();
      await Promise.all([publishing, joining]);
      // Late packets (RED, jitter) have a moment to land.
      await new Promise((r) => setTimeout(r, 1_000));

      const failed = joins.filter((j) => j.status !== 200);
      const statuses: Record<string, number> = {};
      for (const j of failed) statuses[String(j.status)] = (statuses[String(j.status)] ?? 0) + 1;
      const afterKill = joins.filter((j) => j.at >= killedAt);
      const slowest = Math.max(...afterKill.map((j) => j.ms));
      console.log(
        `[nats-cluster] killed ${victim.name} (leader of KV_participants: ${leader}); publications sent ${sent}, ` +
          `received ${received.map((s) => s.size).join(' / ')}; joins ${joins.length - failed.length}/${joins.length} ok ` +
          `${JSON.stringify(statuses)}; slowest join after the kill ${slowest.toFixed(0)} ms`,
      );
      if (failed.length > 0)
        console.log(
          broker
            .logs()
            .split('\n')
            .filter((l) => /NATS|unavailable|error/i.test(l))
            .slice(0, 40)
            .join('\n'),
        );
      expect(failed).toEqual([]);
      for (const values of received) {
        const missing = Array.from({ length: sent }, (_, i) => i).filter((v) => !values.has(v));
        expect(missing).toEqual([]);
      }
    } finally {
      ua.close();
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    }
  }, 90_000);
});
