import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { connect } from 'nats';
import { describe, expect, it } from 'vitest';
import { freePort } from '../free-port.js';
import { FakeClock } from './fake-clock.js';
import { startNatsServer } from './nats-server.js';

describe('freePort', () => {
  it('returns a TCP port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) =>
      server.once('error', reject).listen(port, '127.0.0.1', resolve),
    );
    server.close();
  });

  it('returns a UDP port that can be bound on 127.0.0.1', async () => {
    const port = await freePort('udp');
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', resolve);
    });
    socket.close();
  });
});

describe('startNatsServer', () => {
  it('runs a JetStream server in a temp dir and removes it on stop', async () => {
    const server = await startNatsServer();
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    const nc = await connect({ servers: server.url });
    const info = await (await nc.jetstreamManager()).getAccountInfo();
    expect(info.limits).toBeDefined();
    await nc.close();
    expect(existsSync(server.storeDir)).toBe(true);
    await server.stop();
    expect(existsSync(server.storeDir)).toBe(false);
    await expect(connect({ servers: server.url, reconnect: false, timeout: 500 })).rejects.toThrow();
  });

  it('starts without JetStream when asked', async () => {
    const server = await startNatsServer({ jetstream: false });
    const nc = await connect({ servers: server.url });
    await expect(nc.jetstreamManager({ timeout: 500 }).then((jsm) => jsm.getAccountInfo())).rejects.toThrow();
    await nc.close();
    await server.stop();
  });
});

describe('FakeClock', () => {
  it('fires intervals and timeouts at their due times, in order', () => {
    const clock = new FakeClock(100);
    const log: string[] = [];
    const every = clock.setInterval(() => log.push(`i@${clock.now()}`), 30);
    clock.setTimeout(() => log.push(`t@${clock.now()}`), 45);
    clock.advance(70);
    expect(log).toEqual(['i@130', 't@145', 'i@160']);
    expect(clock.now()).toBe(170);
    clock.clearInterval(every);
    clock.advance(100);
    expect(log).toHaveLength(3);
  });
});
