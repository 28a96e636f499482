// The `sip-pubsub` command as a user runs it: the binaries npm links into node_modules/.bin, `serve`
// starting the embedded broker, then publish / subscribe / watch / topics against it.
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { freePort } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, relayPortRange, waitForSip } from '../support/brokers.js';

const BIN = path.join(ROOT, 'node_modules/.bin/sip-pubsub');

function run(
  args: string[],
  opts: { timeoutMs?: number } = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(BIN, args, { env: { ...process.env, LOG_LEVEL: 'warn' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGINT'), opts.timeoutMs ?? 15_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

describe('the sip-pubsub command', () => {
  let serve: ChildProcess;
  let server: string;
  let output = '';

  beforeAll(async () => {
    const sipPort = await freePort('udp');
    const range = relayPortRange(100);
    serve = spawn(BIN, ['serve'], {
      env: {
        ...process.env,
        LOG_LEVEL: 'warn',
        SIP_PORT: String(sipPort),
        HTTP_PORT: String(await freePort('tcp')),
        RELAY_PORT_MIN: String(range.min),
        RELAY_PORT_MAX: String(range.max),
      },
    });
    serve.stdout!.on('data', (d) => {
      output += d;
    });
    serve.stderr!.on('data', (d) => {
      output += d;
    });
    await waitForSip(sipPort, 30_000, () => output);
    server = `127.0.0.1:${sipPort}`;
  });
  afterAll(async () => {
    if (serve.exitCode === null) {
      const exited = new Promise((r) => serve.once('exit', r));
      serve.kill('SIGTERM');
      await exited;
    }
  });

  it('serve prints where it listens and an example', () => {
    expect(output).toContain('sip-pubsub is running');
    expect(output).toMatch(/npx sip-pubsub subscribe plant-7\/boiler\/temp --server 127\.0\.0\.1:\d+/);
  });

  it('subscribe --json prints what publish sends; topics lists the topic; bad input exits non-zero with a reason', async () => {
    const topic = `cli/${Date.now()}`;
    const subscriber = run(['subscribe', topic, '--server', server, '--json', '--count', '1']);
    // Publish until the subscriber has joined and got one reading.
    let published = 0;
    let result: Awaited<typeof subscriber> | undefined;
    subscriber.then((r) => {
      result = r;
    });
    while (!result && published < 40) {
      const pub = await run([
        'publish',
        topic,
        '--server',
        server,
        '--name',
        'temp',
        '--unit',
        'Cel',
        '--value',
        '21.5',
      ]);
      expect(pub.code, pub.err).toBe(0);
      expect(pub.out + pub.err).toContain('temp = 21.5 Cel');
      published++;
      await new Promise((r) => setTimeout(r, 250));
    }
    const sub = await subscriber;
    expect(sub.code, sub.err).toBe(0);
    expect(JSON.parse(sub.out.trim().split('\n')[0])).toEqual([
      expect.objectContaining({ n: 'temp', u: 'Cel', v: 21.5 }),
    ]);

    const topics = await run(['topics', '--server', server]);
    expect(topics.code, topics.err).toBe(0);
    expect(topics.out).toMatch(
      new RegExp(`^${topic}  sip:conf-[a-z2-7]{16}@localhost  0 publishers, 0 subscribers$`, 'm'),
    );

    const bad = await run(['publish', 'a//b', '--server', server, '--name', 'x', '--value', '1']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('400 Topic has an empty segment');
    const usage = await run(['publish']);
    expect(usage.code).toBe(2);
  });
});
