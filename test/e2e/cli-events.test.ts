// The event-state side of `sip-pubsub` as a user runs it, against the embedded broker: publish with PUBLISH
// (--method publish --retain-only), get (a fetch of the retained values), subscribe --events and a
// wildcard filter, and an RTP subscriber that joins late and gets the retained value first.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type RunningBroker, startEmbedded } from '../support/brokers.js';

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

describe('sip-pubsub with SIP events (embedded broker)', () => {
  let broker: RunningBroker;
  let server: string;
  beforeAll(async () => {
    broker = await startEmbedded();
    server = `127.0.0.1:${broker.sipPort}`;
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('publish --method publish --retain-only, then get, subscribe --events, a wildcard and a late RTP joiner see it', async () => {
    const topic = `plant-7/cli-${Date.now()}/temp`;
    // Started first: the wildcard watcher hears of the topic created after it.
    const wildcard = run(['subscribe', 'plant-7/#', '--server', server, '--json', '--count', '1']);
    await new Promise((r) => setTimeout(r, 1_000));

    const published = await run([
      'publish',
      topic,
      '--server',
      server,
      '--name',
      'urn:dev:boiler:temp',
      '--value',
      '21.5',
      '--unit',
      'Cel',
      '--method',
      'publish',
      '--retain-only',
      '--expires',
      '120',
    ]);
    expect(published.err).toMatch(/stays until it expires \(120 s\)/);
    expect(published.code).toBe(0);

    const got = await run(['get', topic, '--server', server, '--json']);
    expect(got.code).toBe(0);
    const retained = JSON.parse(got.out.trim()) as { n: string; v: number; u: string }[];
    expect(retained.map((r) => [r.n, r.v, r.u])).toEqual([['urn:dev:boiler:temp', 21.5, 'Cel']]);

    const events = await run(['subscribe', topic, '--server', server, '--events', '--json', '--count', '1']);
    expect(events.code).toBe(0);
    expect(JSON.parse(events.out.trim()).map((r: { n: string; v: number }) => [r.n, r.v])).toEqual([
      ['urn:dev:boiler:temp', 21.5],
    ]);

    // An RTP subscriber that joins now gets the retained value before anything live.
    const late = await run(['subscribe', topic, '--server', server, '--json', '--count', '1']);
    expect(late.code).toBe(0);
    expect(JSON.parse(late.out.trim()).map((r: { n: string; v: number }) => [r.n, r.v])).toEqual([
      ['urn:dev:boiler:temp', 21.5],
    ]);

    const wild = await wildcard;
    expect(wild.code).toBe(0);
    expect(JSON.parse(wild.out.trim()).map((r: { n: string; v: number }) => [r.n, r.v])).toEqual([
      [`${topic}/urn:dev:boiler:temp`, 21.5],
    ]);
  }, 60_000);
});
