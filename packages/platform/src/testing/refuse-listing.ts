import type { KvBucket } from '../kv.js';

/**
 * The bucket with keys() refused: wrap the buckets a request path uses, so a test fails if a request
 * lists a bucket (a listing walks every key, deleted ones included, and grows with history).
 */
export function refuseListing(bucket: KvBucket): KvBucket {
  return {
    get: (key) => bucket.get(key),
    create: (key, value) => bucket.create(key, value),
    update: (key, value, rev) => bucket.update(key, value, rev),
    put: (key, value) => bucket.put(key, value),
    delete: (key, rev) => bucket.delete(key, rev),
    stored: () => bucket.stored(),
    watch: (handler, opts) => bucket.watch(handler, opts),
    keys: (prefix) => Promise.reject(new Error(`a request listed the bucket (keys(${prefix ?? ''}))`)),
  };
}
