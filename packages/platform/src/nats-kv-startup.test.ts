// A service that starts while its JetStream cluster has no meta leader (a cluster just started, or
// one that lost its quorum) waits for the cluster instead of failing its start: opening a bucket is
// tried again while JetStream answers "no responders", 503 or nothing.
import { connect } from 'nats';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logging.js';
import { natsKvStore } from './nats-kv.js';
import { startNatsCluster } from './testing/nats-server.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('natsKvStore opening a bucket before JetStream has a leader', () => {
  it('waits for the quorum to come back and then opens the bucket', async () => {
    const cluster = await startNatsCluster();
    const [survivor, ...others] = cluster.nodes;
    const nc = await connect({ servers: survivor.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      // One node of three left: no meta leader, so no bucket can be created.
      await Promise.all(others.map((n) => n.kill()));
      const store = natsKvStore(nc, {
        replicas: 3,
        openRetryMs: 45_000,
        logger: createLogger('test', { level: 'silent' }),
      });
      const opening = store.bucket('opened-late');
      let settled: 'opened' | 'failed' | undefined;
      opening.then(
        () => {
          settled = 'opened';
        },
        () => {
          settled = 'failed';
        },
      );
      // Longer than one JetStream API timeout (5 s): a single attempt would have failed by now.
      await new Promise((r) => setTimeout(r, 6_500));
      expect(settled).toBeUndefined();

      await Promise.all(others.map((n) => n.restart()));
      const bucket = await opening;
      let value: string | undefined;
      // The new stream elects its own leader just after its creation: a first write may need a retry.
      for (let i = 0; i < 50 && value === undefined; i++) {
        value = await bucket
          .put('k', enc.encode('v'))
          .then(async () => dec.decode((await bucket.get('k'))!.value))
          .catch(async () => {
            await new Promise((r) => setTimeout(r, 200));
            return undefined;
          });
      }
      expect(value).toBe('v');
    } finally {
      await nc.close();
      await cluster.stop();
    }
  }, 90_000);
});
