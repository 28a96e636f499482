// Issue 7, defect 3, against a relay process (its own RSS is the honest measurement): a publisher opens
// a T.140 line without U+2028, then sends 60 kB packets with a stale sequence number, then 60 kB
// redundancy-only RED packets with fresh ones, then closes the line. The relay's memory must stay
// bounded, subscribers must get no burst of held packets afterwards, and a later line still arrives.
import { type ChildProcess, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { serializeRed, serializeRtp } from '@sip-pubsub/media';
import { freePort, GrpcClientPool, unary } from '@sip-pubsub/platform';
import { startNatsServer } from '@sip-pubsub/platform/testing';
import {
  contracts,
  type LegAllocation__Output,
  type LegSpec,
  type MediaRelayClient,
  type StatsResponse__Output,
} from '@sip-pubsub/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, relayPortRange } from '../support/brokers.js';

const PHASE_MS = 6_000;
// 2 packets every 10 ms: within the relay's default budget of 200/s per leg, and spaced so the kernel's
// receive buffer (a few 60 kB datagrams) does not drop them before the relay reads them.
const BATCH = 2;
const BATCH_MS = 10;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Math.round(Number(m[1]) / 102.4) / 10;
}

function rtp(seq: number, payloadType: number, payload: Uint8Array, ssrc = 0x4e1d): Uint8Array {
  return serializeRtp({
    version: 2,
    padding: false,
    extension: null,
    marker: false,
    payloadType,
    sequenceNumber: seq & 0xffff,
    timestamp: (seq * 100) >>> 0,
    ssrc,
    csrcs: [],
    payload,
  });
}

const text = (s: string) => new TextEncoder().encode(s);

describe('held-data publisher against a relay process (issue 7, defect 3)', () => {
  let nats: Awaited<ReturnType<typeof startNatsServer>>;
  let relay: ChildProcess;
  let output = '';
  const clients = new GrpcClientPool<MediaRelayClient>(contracts.MediaRelay);
  let client: MediaRelayClient;
  let httpPort = 0;

  beforeAll(async () => {
    nats = await startNatsServer();
    const range = relayPortRange(20);
    const grpcPort = await freePort('tcp');
    httpPort = await freePort('tcp');
    relay = spawn(process.execPath, [path.join(ROOT, 'services/media-relay/dist/main.js')], {
      env: {
        ...process.env,
        LOG_LEVEL: 'warn',
        NATS_URL: nats.url,
        INSTANCE_ID: 'relay-held',
        GRPC_HOST: '127.0.0.1',
        GRPC_PORT: String(grpcPort),
        HTTP_PORT: String(httpPort),
        RELAY_HOST: '127.0.0.1',
        RELAY_PORT_MIN: String(range.min),
        RELAY_PORT_MAX: String(range.max),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    relay.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    relay.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    client = clients.get(`127.0.0.1:${grpcPort}`);
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await unary<object, StatsResponse__Output>(client, 'Stats', {});
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`relay did not start: ${String(err)}\n${output}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }, 30_000);

  afterAll(async () => {
    clients.close();
    if (relay && relay.exitCode === null) {
      const exited = new Promise((r) => relay.once('exit', r));
      relay.kill('SIGTERM');
      await exited;
    }
    await nats?.stop();
  });

  it('keeps RSS bounded, bursts nothing held when the line closes, and still delivers the next line', async () => {
    const bind = async () => {
      const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      return s;
    };
    const pub = await bind();
    const subs = [await bind(), await bind()];
    const got = subs.map(() => ({ packets: 0, bytes: 0, texts: [] as string[] }));
    for (const [i, s] of subs.entries()) {
      s.on('message', (m) => {
        got[i].packets += 1;
        got[i].bytes += m.length;
        got[i].texts.push(m.subarray(12).toString('latin1'));
      });
    }
    const spec = (legId: string, port: number, publishes: boolean): LegSpec => ({
      conferenceId: 'held',
      legId,
      publishes,
      subscribes: !publishes,
      remoteHost: '127.0.0.1',
      remotePort: port,
      t140Pt: 98,
      redPt: 100,
      redundancy: 2,
      mode: 'FORWARDING_MODE_TRANSLATE',
    });
    const allocate = (s: LegSpec) => unary<LegSpec, LegAllocation__Output>(client, 'AllocateLeg', s);
    const p = await allocate(spec('pub', pub.address().port, true));
    const legs = await Promise.all(subs.map((s, i) => allocate(spec(`sub${i}`, s.address().port, false))));
    // Subscribers give media consent (README "Media consent") and keep it.
    const keepalive = () => {
      for (const [i, s] of subs.entries()) s.send(new Uint8Array(0), legs[i].port, '127.0.0.1');
    };
    keepalive();
    const keepaliveTimer = setInterval(keepalive, 2_000);
    const send = (d: Uint8Array) => pub.send(d, p.port, '127.0.0.1');

    try {
      await new Promise((r) => setTimeout(r, 300));
      const pid = relay.pid!;
      const before = rssMb(pid);
      let peak = before;
      const flood = async (packet: (i: number) => Uint8Array) => {
        const end = Date.now() + PHASE_MS;
        let i = 0;
        while (Date.now() < end) {
          for (let k = 0; k < BATCH; k++) send(packet(i++));
          await new Promise((r) => setTimeout(r, BATCH_MS));
          if (i % 50 === 0) peak = Math.max(peak, rssMb(pid));
        }
        return i;
      };

      let seq = 1_000;
      // A line opens and never ends...
      send(rtp(seq, 98, text('[{"n":"held","v":1}')));
      // ...then 60 kB packets that repeat its sequence number.
      const stale = new Uint8Array(60_000).fill(0x61);
      const staleSent = await flood(() => rtp(seq, 98, stale));
      const afterStale = rssMb(pid);
      // Then 60 kB RED packets with fresh sequence numbers and nothing new: redundancy only.
      const blocks = Array.from({ length: 58 }, () => ({
        payloadType: 98,
        timestampOffset: 0,
        data: new Uint8Array(1_000).fill(0x62),
      }));
      const redundancyOnly = serializeRed({
        redundant: blocks,
        primary: { payloadType: 98, data: new Uint8Array(0) },
      });
      const redSent = await flood(() => rtp(++seq, 100, redundancyOnly));
      const afterRed = rssMb(pid);

      // Closing the line: what was held for it must not burst at the subscribers.
      await new Promise((r) => setTimeout(r, 500));
      const mark = got.map((g) => ({ packets: g.packets, bytes: g.bytes }));
      send(rtp(++seq, 98, text(']\u2028')));
      await new Promise((r) => setTimeout(r, 2_000));
      const burst = got.map((g, i) => ({
        packets: g.packets - mark[i].packets,
        bytes: g.bytes - mark[i].bytes,
      }));

      // The stream goes on: the next line reaches both subscribers.
      send(rtp(++seq, 98, text('[{"n":"after","v":2}]\u2028')));
      const deadline = Date.now() + 5_000;
      while (!got.every((g) => g.texts.some((t) => t.includes('"after"'))) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const delivered = got.map((g) => g.texts.some((t) => t.includes('"after"')));

      const settled = rssMb(pid);
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      const drops = [
        ...metrics.matchAll(/sip_pubsub_relay_dropped_datagrams_total\{[^}]*reason="([^"]+)"[^}]*\} (\d+)/g),
      ]
        .map((m) => `${m[1]}=${m[2]}`)
        .join(' ');
      console.log(
        `held-data: relay drops ${drops}; relay RSS ${before} MB before, ${afterStale} MB after ${staleSent} stale 60 kB packets, ` +
          `${afterRed} MB after ${redSent} redundancy-only 60 kB packets (peak ${peak} MB, growth ${Math.round((peak - before) * 10) / 10} MB; ${settled} MB at the end); ` +
          `on closing the line each subscriber got ${burst.map((b) => `${b.packets} packets/${b.bytes} bytes`).join(', ')}; ` +
          `next line delivered: ${delivered.join(', ')}`,
      );

      if (process.env.HELD_DATA_DEBUG) console.log(output.slice(-3000));
      expect(relay.exitCode).toBeNull();
      expect(peak - before).toBeLessThan(60);
      for (const b of burst) {
        expect(b.packets).toBeLessThanOrEqual(64);
        expect(b.bytes).toBeLessThan(128 * 1024);
      }
      expect(delivered).toEqual([true, true]);
    } finally {
      clearInterval(keepaliveTimer);
      pub.close();
      for (const s of subs) s.close();
    }
  });
});
