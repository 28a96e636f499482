import fc from 'fast-check';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessKvStore } from './in-process-kv.js';
import { describeKvContract } from './kv.contract.js';
import { InvalidKvKeyError } from './kv.js';
import { decodeKvKey, decodeKvKeyPart, encodeKvKeyPart, isValidKvKey, kvKey } from './kv-key.js';
import { createLogger } from './logging.js';
import { natsKvStore } from './nats-kv.js';
import { FakeClock } from './testing/fake-clock.js';
import { type RunningNatsServer, startNatsServer } from './testing/nats-server.js';

const quiet = createLogger('test', { level: 'silent' });
const enc = new TextEncoder();

describeKvContract('InProcessKvStore', () => new InProcessKvStore({ logger: quiet }));

describe('on nats-server with JetStream', () => {
  let server: RunningNatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  // natsKvStore is created lazily so the connection exists when the first test runs.
  describeKvContract('NATS JetStream KV', () => {
    let store: ReturnType<typeof natsKvStore> | undefined;
    return {
      bucket: (name, opts) => {
        store ??= natsKvStore(nc, { logger: quiet, markerGraceMs: 50 });
        return store.bucket(name, opts);
      },
    };
  });
});

describe('InProcessKvStore specifics', () => {
  it('expires entries ttlMs after their write', async () => {
    const clock = new FakeClock(1000);
    const kv = await new InProcessKvStore({ clock, logger: quiet }).bucket('sessions', { ttlMs: 500 });
    const rev = await kv.put('s1', enc.encode('x'));
    clock.advance(499);
    expect((await kv.get('s1'))?.revision).toBe(rev);
    clock.advance(1);
    expect(await kv.get('s1')).toBeNull();
    expect(await kv.keys()).toEqual([]);
    await kv.create('s1', enc.encode('again'));
  });

  it('drops expired entries that are never read again, so a TTL bucket stays bounded', async () => {
    const clock = new FakeClock(0);
    const kv = await new InProcessKvStore({ clock, logger: quiet }).bucket('once', { ttlMs: 1_000 });
    for (let i = 0; i < 5_000; i++) {
      await kv.create(`k${i}`, enc.encode('1'));
      clock.advance(1);
    }
    // Only the last ttlMs worth of writes is held; the 4,000 older keys were never touched again.
    expect((kv as unknown as { heldKeys: number }).heldKeys).toBe(1_000);
    expect(await kv.get('k4999')).not.toBeNull();
  });

  it('rejects bucket names NATS would refuse', async () => {
    await expect(new InProcessKvStore().bucket('a.b')).rejects.toBeInstanceOf(InvalidKvKeyError);
  });

  it('does not let callers change stored bytes', async () => {
    const kv = await new InProcessKvStore().bucket('b');
    const value = enc.encode('abc');
    await kv.put('k', value);
    value.fill(0);
    const read = await kv.get('k');
    read?.value.fill(0);
    expect(new TextDecoder().decode((await kv.get('k'))?.value)).toBe('abc');
  });
});

describe('kvKey', () => {
  it('keeps readable parts as they are and encodes the rest', () => {
    expect(kvKey('conf', 'c-1_x', 'plant-7/boiler')).toBe('conf.c-1_x.plant-7/boiler');
    expect(kvKey('topic', 'plant 7.boiler')).toBe('topic.=cGxhbnQgNy5ib2lsZXI');
    expect(kvKey('')).toBe('=');
    expect(kvKey('=x')).toBe('=PXg');
    expect(kvKey('\uD800')).toBe('==ANg');
    expect(() => kvKey()).toThrow(InvalidKvKeyError);
  });

  it('always yields a valid key that decodes back to its parts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), {
          minLength: 1,
          maxLength: 5,
        }),
        (parts) => {
          const key = kvKey(...parts);
          expect(isValidKvKey(key)).toBe(true);
          expect(decodeKvKey(key)).toEqual(parts);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('is injective: different parts give different keys', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        fc.pre(a !== b);
        expect(encodeKvKeyPart(a)).not.toBe(encodeKvKeyPart(b));
      }),
    );
  });

  it('refuses to decode what it could not have encoded', () => {
    for (const bad of ['a b', '=***', '=PXh', '=A', '==AA_'])
      expect(() => decodeKvKeyPart(bad), bad).toThrow(InvalidKvKeyError);
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          const decoded = decodeKvKeyPart(s);
          expect(encodeKvKeyPart(decoded)).toBe(s);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidKvKeyError);
        }
      }),
    );
  });

  it('validates keys with the NATS rules', () => {
    for (const ok of ['a', 'a.b', 'A-b_c/d=e.9']) expect(isValidKvKey(ok), ok).toBe(true);
    for (const bad of ['', '.', '.a', 'a.', 'a..b', 'a b', 'a*', 'a>', 'ä', 'a\n'])
      expect(isValidKvKey(bad), bad).toBe(false);
  });
});
