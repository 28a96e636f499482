// Latency of each KV operation, by bucket, operation and outcome, measured around any KvStore (NATS or
// in-process) without touching it: the buckets it hands out are wrapped, every other member passes through.
import { Histogram, type Registry } from 'prom-client';
import { type KvBucket, KvConflictError, type KvStore } from './kv.js';

const TIMED: ReadonlySet<PropertyKey> = new Set(['get', 'create', 'update', 'put', 'delete', 'keys']);

export function instrumentKv(
  store: KvStore,
  registry: Registry,
  now: () => number = () => performance.now(),
): KvStore {
  const histogram = new Histogram({
    name: 'sip_pubsub_kv_operation_duration_seconds',
    help: 'Time of a KV operation, by bucket, operation and outcome (ok, conflict: a compare-and-set lost, error)',
    labelNames: ['bucket', 'operation', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const timed = (bucket: string, operation: string, run: () => Promise<unknown>) => {
    const started = now();
    const observe = (outcome: string) =>
      histogram.observe({ bucket, operation, outcome }, (now() - started) / 1000);
    return run().then(
      (value) => {
        observe('ok');
        return value;
      },
      (err: unknown) => {
        observe(err instanceof KvConflictError ? 'conflict' : 'error');
        throw err;
      },
    );
  };
  const wrapBucket = (name: string, bucket: KvBucket): KvBucket =>
    new Proxy(bucket, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        if (!TIMED.has(prop)) return value.bind(target);
        return (...args: unknown[]) => timed(name, String(prop), () => value.apply(target, args));
      },
    });
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop !== 'bucket' || typeof value !== 'function')
        return typeof value === 'function' ? value.bind(target) : value;
      return async (name: string, ...rest: unknown[]) =>
        wrapBucket(name, await value.call(target, name, ...rest));
    },
  });
}
