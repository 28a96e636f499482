import { Writable } from 'node:stream';
import { Counter } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthServer } from './health.js';
import { createLogger } from './logging.js';
import { createRegistry } from './metrics.js';

describe('HealthServer', () => {
  let server: HealthServer | undefined;
  afterEach(async () => {
    await server?.stop();
  });

  it('passes paths it does not serve to the mounted routes in order, and 404s what none serves', async () => {
    server = new HealthServer({ host: '127.0.0.1', port: 0, registry: createRegistry('edge', 'e1') });
    server.mount((path, _req, res) => {
      if (path !== '/console') return false;
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p>console</p>');
      return true;
    });
    server.mount(async (path, _req, res) => {
      if (!path.startsWith('/console/')) return false;
      res.writeHead(200).end(`second ${path}`);
      return true;
    });
    const { port } = await server.start();
    const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
    expect(await (await get('/console?x=1')).text()).toBe('<p>console</p>');
    expect(await (await get('/console/app.js')).text()).toBe('second /console/app.js');
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/nowhere')).status).toBe(404);
  });

  it('serves /healthz, a /readyz that flips 503→200→503, and /metrics', async () => {
    const registry = createRegistry('media-relay', 'relay-1');
    new Counter({
      name: 'sip_pubsub_relay_packets_total',
      help: 'RTP packets received',
      registers: [registry],
    }).inc(3);
    server = new HealthServer({ host: '127.0.0.1', port: 0, registry });
    const { port } = await server.start();
    expect(port).toBeGreaterThan(0);
    const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);

    const health = await get('/healthz');
    expect(health.status).toBe(200);

    let ready = await get('/readyz');
    expect(ready.status).toBe(503);
    server.setReady(false, 'waiting for NATS');
    ready = await get('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.text()).toBe('waiting for NATS\n');
    server.setReady(true);
    ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe('ready\n');
    server.setReady(false, 'draining');
    expect((await get('/readyz')).status).toBe(503);
    expect((await get('/healthz')).status).toBe(200);

    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const body = await metrics.text();
    expect(body).toContain('# TYPE sip_pubsub_relay_packets_total counter');
    expect(body).toContain('sip_pubsub_relay_packets_total{service="media-relay",instance="relay-1"} 3');
    // Default process metrics are collected too.
    expect(body).toMatch(/^process_cpu_user_seconds_total\{service="media-relay",instance="relay-1"\} /m);

    expect((await get('/nope')).status).toBe(404);
  });

  it('frees its port on stop', async () => {
    server = new HealthServer({ host: '127.0.0.1', port: 0, registry: createRegistry('s', 'i') });
    const { port } = await server.start();
    await server.stop();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    server = new HealthServer({ host: '127.0.0.1', port, registry: createRegistry('s', 'i') });
    expect((await server.start()).port).toBe(port);
  });
});

describe('createLogger', () => {
  it('writes JSON lines with service, instance and a word for the level', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const logger = createLogger('notifier', { level: 'debug', destination, instance: 'notifier-0' });
    logger.debug({ confId: 'c1', callId: 'x@y' }, 'full state NOTIFY');
    logger.trace('below the level');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]);
    expect(line).toMatchObject({
      level: 'debug',
      service: 'notifier',
      instance: 'notifier-0',
      confId: 'c1',
      callId: 'x@y',
      msg: 'full state NOTIFY',
    });
    expect(typeof line.time).toBe('string');
  });
});
