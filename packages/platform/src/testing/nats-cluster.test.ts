import { connect } from 'nats';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logging.js';
import { natsKvStore } from '../nats-kv.js';
import { startNatsCluster } from './nats-server.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('startNatsCluster', () => {
  it('runs three routed JetStream nodes; a bucket at replicas 3 keeps serving when one node is killed', async () => {
    const cluster = await startNatsCluster();
    const nc = await connect({
      servers: cluster.url.split(','),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    try {
      expect(cluster.nodes).toHaveLength(3);
      expect(cluster.url.split(',')).toEqual(cluster.nodes.map((n) => n.url));
      const store = natsKvStore(nc, { replicas: 3, logger: createLogger('test', { level: 'silent' }) });
      // The meta leader is elected shortly after the nodes are up: the first creation may need retries.
      let bucket: Awaited<ReturnType<typeof store.bucket>> | undefined;
      for (let i = 0; i < 100 && !bucket; i++) {
        bucket = await store.bucket('replicated').catch(async () => {
          await new Promise((r) => setTimeout(r, 200));
          return undefined;
        });
      }
      expect(bucket).toBeDefined();
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info('KV_replicated');
      expect(info.config.num_replicas).toBe(3);
      await bucket!.put('k', enc.encode('before'));

      // Kill a node that is not the one we are connected to, and then the one we are.
      const connected = nc.getServer();
      const victim = cluster.nodes.find((n) => !connected.endsWith(`:${n.port}`)) ?? cluster.nodes[0];
      await victim.kill();
      expect(victim.running()).toBe(false);
      let after: string | undefined;
      for (let i = 0; i < 50 && after === undefined; i++) {
        after = await bucket!
          .put('k', enc.encode('after'))
          .then(async () => dec.decode((await bucket!.get('k'))!.value))
          .catch(async () => {
            await new Promise((r) => setTimeout(r, 200));
            return undefined;
          });
      }
      expect(after).toBe('after');
      await victim.restart();
      expect(victim.running()).toBe(true);
    } finally {
      await nc.close();
      await cluster.stop();
    }
  }, 60_000);
});
