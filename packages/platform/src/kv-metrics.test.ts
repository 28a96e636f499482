import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { InProcessKvStore } from './in-process-kv.js';
import { KvConflictError } from './kv.js';
import { instrumentKv } from './kv-metrics.js';

describe('instrumentKv', () => {
  it('times each operation by bucket, operation and outcome, and behaves as the store it wraps', async () => {
    let now = 0;
    const registry = new Registry();
    const kv = instrumentKv(new InProcessKvStore(), registry, () => (now += 2));
    const topics = await kv.bucket('topics');
    const rev = await topics.create('a', new TextEncoder().encode('1'));
    await expect(topics.create('a', new TextEncoder().encode('2'))).rejects.toBeInstanceOf(KvConflictError);
    expect(new TextDecoder().decode((await topics.get('a'))?.value)).toBe('1');
    expect(await topics.update('a', new TextEncoder().encode('3'), rev)).toBeGreaterThan(rev);
    const watching = await topics.watch(() => undefined);
    watching.stop();
    const text = await registry.metrics();
    expect(text).toContain(
      'sip_pubsub_kv_operation_duration_seconds_count{bucket="topics",operation="create",outcome="ok"} 1',
    );
    expect(text).toContain(
      'sip_pubsub_kv_operation_duration_seconds_count{bucket="topics",operation="create",outcome="conflict"} 1',
    );
    expect(text).toContain(
      'sip_pubsub_kv_operation_duration_seconds_count{bucket="topics",operation="get",outcome="ok"} 1',
    );
    expect(text).toContain(
      'sip_pubsub_kv_operation_duration_seconds_sum{bucket="topics",operation="update",outcome="ok"} 0.002',
    );
    expect(text).not.toContain('operation="watch"');
  });
});
