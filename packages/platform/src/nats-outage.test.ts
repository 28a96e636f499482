import { describe, expect, it } from 'vitest';
import { GrpcStatusError } from './grpc.js';
import { failFastWithoutNats, isNatsOutageError } from './nats-outage.js';

const natsError = (code: string, message = 'x') =>
  Object.assign(new Error(message), { name: 'NatsError', code });

describe('failFastWithoutNats', () => {
  it('refuses as UNAVAILABLE while NATS stays away, without starting the work', async () => {
    let ran = false;
    const err = await failFastWithoutNats(
      () => false,
      async () => {
        ran = true;
      },
      0,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrpcStatusError);
    expect((err as GrpcStatusError).code).toBe(14);
    expect(ran).toBe(false);
  });

  it('goes ahead when the connection comes back within the grace', async () => {
    let checks = 0;
    expect(
      await failFastWithoutNats(
        () => ++checks > 2,
        async () => 'served',
        60_000,
      ),
    ).toBe('served');
  });

  it('turns NATS outage errors into UNAVAILABLE and lets other errors through', async () => {
    for (const e of [natsError('TIMEOUT'), natsError('503'), natsError('DISCONNECT')]) {
      const got = await failFastWithoutNats(
        () => true,
        () => Promise.reject(e),
      ).catch((x: unknown) => x);
      expect((got as GrpcStatusError).code, e.code).toBe(14);
    }
    const bug = new TypeError('a bug');
    await expect(
      failFastWithoutNats(
        () => true,
        () => Promise.reject(bug),
      ),
    ).rejects.toBe(bug);
    expect(await failFastWithoutNats(undefined, async () => 7)).toBe(7);
  });

  it('knows a NATS outage from a request error', () => {
    expect(isNatsOutageError(natsError('CONNECTION_CLOSED'))).toBe(true);
    expect(isNatsOutageError(natsError('BAD_JSON'))).toBe(false);
    expect(isNatsOutageError(new Error('timeout'))).toBe(false);
    expect(isNatsOutageError(null)).toBe(false);
  });
});
