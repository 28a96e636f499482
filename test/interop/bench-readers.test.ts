// The benchmarks' raw wire readers (test/bench/wire) against the real servers they measure: a stamped
// pack published through Mosquitto (MQTT 3.1.1 QoS 0) and through nats-server (core PUB) reaches a raw
// subscriber whose reader frames the message and reads the stamp back. Needs mosquitto (Debian package).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { freePort } from '@sip-pubsub/platform';
import { startNatsServer } from '@sip-pubsub/platform/testing';
import { describe, expect, it } from 'vitest';
import * as mqtt from '../bench/wire/mqtt.js';
import * as nats from '../bench/wire/nats.js';
import { readStamp, stampedPack } from '../bench/wire/stamp.js';

const connectTcp = (port: number) =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));

describe('benchmark wire readers against the real servers', () => {
  it.skipIf(!MOSQUITTO)(
    'the raw MQTT reader receives a PUBLISH from Mosquitto and reads its stamp',
    async () => {
      const port = await freePort('tcp');
      const dir = await mkdtemp(path.join(tmpdir(), 'readers-mosquitto-'));
      await writeFile(
        path.join(dir, 'm.conf'),
        `listener ${port} 127.0.0.1\nallow_anonymous true\nlog_dest none\n`,
      );
      const broker: ChildProcess = spawn(MOSQUITTO!, ['-c', path.join(dir, 'm.conf')], { stdio: 'ignore' });
      const sockets: net.Socket[] = [];
      try {
        let sub: net.Socket | undefined;
        for (let i = 0; i < 50 && !sub; i++)
          sub = await connectTcp(port).catch(async () => {
            await new Promise((r) => setTimeout(r, 100));
            return undefined;
          });
        sockets.push(sub!);
        const got: { topic: string; stamp: ReturnType<typeof readStamp> }[] = [];
        const subscribed = new Promise<void>((resolve) => {
          const reader = new mqtt.MqttFrameReader((header, buf, start, end) => {
            const type = header >> 4;
            if (type === mqtt.MQTT.CONNACK) sub!.write(mqtt.encodeSubscribe(7, 'bench/readers'));
            else if (type === mqtt.MQTT.SUBACK) resolve();
            else if (type === mqtt.MQTT.PUBLISH) {
              const p = mqtt.parsePublish(header, buf, start, end);
              got.push({ topic: p.topic, stamp: readStamp(buf, p.payloadStart, end) });
            }
          });
          sub!.on('data', (c: Buffer) => reader.push(c));
        });
        sub!.write(mqtt.encodeConnect('reader-sub'));
        await subscribed;
        const pub = await connectTcp(port);
        sockets.push(pub);
        pub.write(mqtt.encodeConnect('reader-pub'));
        pub.write(mqtt.encodePublish('bench/readers', Buffer.from(stampedPack(3, 0, 41, 123_456_789))));
        await expect.poll(() => got.length).toBe(1);
        expect(got[0]).toEqual({
          topic: 'bench/readers',
          stamp: { step: 3, pub: 0, seq: 41, sentUs: 123_456_789 },
        });
      } finally {
        for (const s of sockets) s.destroy();
        broker.kill('SIGTERM');
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it('the raw NATS reader frames INFO, PONG and a MSG from nats-server and reads its stamp', async () => {
    const server = await startNatsServer({ jetstream: false });
    const sockets: net.Socket[] = [];
    try {
      const sub = await connectTcp(server.port);
      sockets.push(sub);
      const got: { subject: string; sid: number; stamp: ReturnType<typeof readStamp> }[] = [];
      const ready = new Promise<void>((resolve) => {
        const reader = new nats.NatsFrameReader((e) => {
          if (e.op === 'INFO')
            sub.write(Buffer.concat([nats.encodeConnect(), nats.encodeSub('bench.readers', 9), nats.PING]));
          else if (e.op === 'PONG') resolve();
          else if (e.op === 'MSG')
            got.push({ subject: e.subject, sid: e.sid, stamp: readStamp(e.buf, e.start, e.end) });
        });
        sub.on('data', (c: Buffer) => reader.push(c));
      });
      await ready;
      const pub = await connectTcp(server.port);
      sockets.push(pub);
      pub.write(
        Buffer.concat([
          nats.encodeConnect(),
          nats.encodePub('bench.readers', Buffer.from(stampedPack(5, 2, 8, 99))),
        ]),
      );
      await expect.poll(() => got.length).toBe(1);
      expect(got[0]).toEqual({
        subject: 'bench.readers',
        sid: 9,
        stamp: { step: 5, pub: 2, seq: 8, sentUs: 99 },
      });
    } finally {
      for (const s of sockets) s.destroy();
      await server.stop();
    }
  });
});
