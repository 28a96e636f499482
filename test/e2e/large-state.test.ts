// State larger than one SIP message (64 KiB) reaches watchers in parts, embedded and as four processes
// with nats-server: a directory SUBSCRIBE over UDP at 400 topics (about 80 KB of XML at the default
// NOTIFY_MAX_BODY_BYTES, and before this nothing at all arrived: the edge refused the 513-sized NOTIFY),
// and with a small limit both the directory and a roster of many subscribers. The watcher here is the
// SDK's: its view after the parts is the whole state.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { SipPubSubClient } from '@sip-pubsub/client';
import type { DirectoryInfo } from '@sip-pubsub/events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { ProbeUa } from '../support/probe-ua.js';

async function createTopics(sipPort: number, prefix: string, count: number): Promise<void> {
  const ua = await ProbeUa.open();
  try {
    for (let i = 0; i < count; i += 40) {
      const batch = Array.from({ length: Math.min(40, count - i) }, (_, j) =>
        ua.conference(sipPort, `${prefix}-${i + j}/line/temperature`, 20_000),
      );
      for (const uri of await Promise.all(batch)) expect(uri).toMatch(/^sip:conf-/);
    }
  } finally {
    await ua.close();
  }
}

/** Watches the directory until it lists `count` topics under `prefix`; returns every NOTIFY's document. */
async function directoryParts(
  client: SipPubSubClient,
  prefix: string,
  count: number,
): Promise<DirectoryInfo[]> {
  const watcher = await client.directory();
  const docs: DirectoryInfo[] = [];
  const listed = (view: DirectoryInfo) =>
    view.conferences.filter((c) => c.topic.startsWith(`${prefix}-`)).length;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`directory listed fewer than ${count} topics`)),
        30_000,
      );
      watcher.on('notify', (doc: DirectoryInfo, view: DirectoryInfo) => {
        docs.push(doc);
        if (listed(view) >= count) {
          clearTimeout(timer);
          resolve();
        }
      });
      watcher.on('terminated', (reason: string) => reject(new Error(`directory watch ended: ${reason}`)));
    });
  } finally {
    await watcher.close();
  }
  return docs;
}

for (const mode of ['embedded', 'split'] as const) {
  describe(`state larger than one NOTIFY (${mode})`, () => {
    let broker: RunningBroker;
    let client: SipPubSubClient;
    beforeAll(async () => {
      broker = mode === 'embedded' ? await startEmbedded() : await startSeparateProcesses();
      client = await SipPubSubClient.connect({ server: `127.0.0.1:${broker.sipPort}`, user: 'watcher' });
    }, 120_000);
    afterAll(async () => {
      await client?.close();
      await broker?.stop();
    });

    it('a directory of 400 topics arrives whole: a full part, then partial ones', async () => {
      await createTopics(broker.sipPort, 'site', 400);
      const docs = await directoryParts(client, 'site', 400);
      expect(docs.length).toBeGreaterThanOrEqual(2);
      expect(docs[0].state).toBe('full');
      expect(docs.slice(1).every((d) => d.state === 'partial')).toBe(true);
      expect(docs.map((d) => d.version)).toEqual(docs.map((_, i) => docs[0].version + i));
      // No entry is sent twice to make the parts.
      const entities = docs.flatMap((d) => d.conferences.map((c) => c.entity));
      expect(new Set(entities).size).toBe(entities.length);

      // `sip-pubsub topics` lists them all: it exits once the parts have stopped coming, not at the first.
      const listing = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(
          path.join(ROOT, 'node_modules/.bin/sip-pubsub'),
          ['topics', '--json', '--server', `127.0.0.1:${broker.sipPort}`],
          { env: { ...process.env, LOG_LEVEL: 'warn' } },
        );
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
      expect(listing.code).toBe(0);
      const listed = listing.out
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { topic: string })
        .filter((c) => c.topic.startsWith('site-'));
      expect(new Set(listed.map((c) => c.topic)).size).toBe(400);
    }, 120_000);
  });
}

describe('a roster larger than NOTIFY_MAX_BODY_BYTES (split, 4000 bytes)', () => {
  let broker: RunningBroker;
  const clients: SipPubSubClient[] = [];
  beforeAll(async () => {
    broker = await startSeparateProcesses({ env: { NOTIFY_MAX_BODY_BYTES: '4000' } });
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await broker?.stop();
  });

  it('reaches a roster watcher in parts that each keep to the limit; every subscriber is listed', async () => {
    const topic = 'plant-9/roster/big';
    const connect = async (user: string) => {
      const c = await SipPubSubClient.connect({ server: `127.0.0.1:${broker.sipPort}`, user });
      clients.push(c);
      return c;
    };
    // The topic's first join may find no relay channel ready yet right after start (503).
    const first = await connect('sub-0');
    for (let attempt = 0; ; attempt++) {
      try {
        await first.subscriber(topic);
        break;
      } catch (err) {
        if (attempt >= 20 || !/503/.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    for (let i = 1; i < 30; i++) await (await connect(`sub-${i}`)).subscriber(topic);

    const watcher = await (await connect('roster-watcher')).watch(topic);
    const sizes: number[] = [];
    const states: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the roster never listed 30 users')), 30_000);
      watcher.on('notify', (doc, view) => {
        states.push(doc.state);
        sizes.push(doc.users.length);
        if (view.users.length >= 30) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await watcher.close();
    expect(states[0]).toBe('full');
    expect(states.length).toBeGreaterThan(2);
    // ~400 bytes per user: no part holds more than 4000 bytes' worth.
    expect(Math.max(...sizes)).toBeLessThan(10);
  }, 120_000);
});
