import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from './free-port.js';
import { createLogger } from './logging.js';
import { connectNats, connectNatsBus } from './nats-bus.js';
import { type RunningNatsServer, startNatsServer } from './testing/nats-server.js';

describe('connectNats', () => {
  let server: RunningNatsServer | undefined;
  afterEach(async () => {
    await server?.stop();
  });

  it('waits for a server that is not up yet, and reconnects after it restarts', async () => {
    const lines: { nats?: string; msg: string }[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    });
    const logger = createLogger('test', { level: 'info', destination });
    const port = await freePort();
    const connecting = connectNats(`nats://127.0.0.1:${port}`, 'edge-test', logger);
    server = await startNatsServer({ jetstream: false, port });
    const nc = await connecting;
    const bus = await connectNatsBus(nc, { logger, ownsConnection: true });
    const got: string[] = [];
    bus.subscribe('pubsub.directory', (m) => got.push(new TextDecoder().decode(m.data)));
    await bus.flush();

    await server.stop();
    server = await startNatsServer({ jetstream: false, port });
    await vi.waitFor(() => expect(lines.some((l) => l.nats === 'reconnect')).toBe(true), {
      timeout: 15_000,
      interval: 50,
    });
    // The subscription made before the restart is restored on the new connection.
    bus.publish('pubsub.directory', new TextEncoder().encode('after restart'));
    await vi.waitFor(() => expect(got).toEqual(['after restart']), { timeout: 5000, interval: 10 });
    expect(lines.some((l) => l.nats === 'disconnect')).toBe(true);
    await bus.close();
    expect(nc.isClosed()).toBe(true);
  }, 30_000);
});
