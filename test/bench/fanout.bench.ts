// Fan-out: P publishers → S subscribers on loopback, the same workload through the media relay (T.140
// with RED over RTP; translate mode, and aggregate mode when the relay offers it) and through Mosquitto
// (MQTT QoS 0, the same SenML text as payload), printed side by side. For each: deliveries per second
// achieved for an offered rate, losses, the server process's CPU per delivery (read from /proc for both,
// so they are measured the same way) and publish→deliver latency percentiles (hdr-histogram-js).
// Printed, never asserted.
// Run: npm run bench -- fanout [--seconds 3] [--target 20000]   (needs mosquitto from Debian's packages)
import { type ChildProcess, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serializeRtp, T140Sender } from '@sip-pubsub/media';
import { freePort, GrpcClientPool, unary } from '@sip-pubsub/platform';
import {
  contracts,
  type LegAllocation__Output,
  type LegSpec,
  type MediaRelayClient,
  type StatsResponse__Output,
} from '@sip-pubsub/proto';
import * as hdr from 'hdr-histogram-js';
import mqtt from 'mqtt';
import { fmt, printHeader, printTable } from './machine.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const T140_PT = 98;
const RED_PT = 100;
const LS = '\u2028';
const AGGREGATE_WINDOW_MS = 50;
/** A publisher never sends faster than this, whatever the target. */
const MAX_RATE_PER_PUBLISHER = 1_000;

interface Workload {
  publishers: number;
  subscribers: number;
  /** Publications per second per publisher. */
  rate: number;
  seconds: number;
}

interface Outcome {
  system: string;
  sent: number;
  delivered: number;
  deliveriesPerSecond: number;
  serverCpuUsPerDelivery: number;
  latency: hdr.Histogram;
  /** Packets the server says it sent to subscribers (the relay's Stats), to tell its drops from ours. */
  serverPacketsOut?: number;
}

/** The text one publication carries; the name says who sent it and its number. */
const pack = (pub: number, seq: number) => `[{"n":"p${pub}.${seq}","u":"Cel","v":${20 + (seq % 50) / 10}}]`;
const NAME = /"n":"(?:[^"]*?)p(\d+)\.(\d+)"/g;

/** Tracks send times and records each (publication, subscriber) arrival once. */
class Ledger {
  readonly sentAt: bigint[][];
  readonly latency = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  delivered = 0;
  recordFrom = 0;

  constructor(publishers: number) {
    this.sentAt = Array.from({ length: publishers }, () => []);
  }

  arrived(text: string, now: bigint): void {
    NAME.lastIndex = 0;
    for (let m = NAME.exec(text); m !== null; m = NAME.exec(text)) {
      const sent = this.sentAt[Number(m[1])]?.[Number(m[2])];
      if (sent === undefined) continue;
      this.delivered++;
      if (Number(m[2]) >= this.recordFrom)
        this.latency.recordValue(Math.max(1, Number((now - sent) / 1000n)));
    }
  }
}

const LS_BYTES = Buffer.from(LS);

/** The primary T.140 block of an RTP packet (RED or plain), without decoding the redundancy. */
function primaryBlock(packet: Buffer): Buffer {
  if (packet.length < 12) return Buffer.alloc(0);
  let offset = 12 + (packet[0] & 0x0f) * 4;
  if (packet[0] & 0x10) offset += 4 + packet.readUInt16BE(offset + 2) * 4;
  if ((packet[1] & 0x7f) !== RED_PT) return packet.subarray(offset);
  let lengths = 0;
  while (offset < packet.length && packet[offset] & 0x80) {
    lengths += ((packet[offset + 2] & 0x03) << 8) | packet[offset + 3];
    offset += 4;
  }
  return packet.subarray(offset + 1 + lengths);
}

/** One subscriber's T.140 streams, reassembled into lines per SSRC (an aggregated pack spans packets). */
class LineReceiver {
  private readonly pending = new Map<number, Buffer>();

  constructor(private readonly onLine: (line: string) => void) {}

  packet(packet: Buffer): void {
    const block = primaryBlock(packet);
    if (block.length === 0) return;
    const ssrc = packet.readUInt32BE(8);
    const prior = this.pending.get(ssrc);
    let data = prior ? Buffer.concat([prior, block]) : block;
    for (let end = data.indexOf(LS_BYTES); end >= 0; end = data.indexOf(LS_BYTES)) {
      this.onLine(data.toString('utf8', 0, end));
      data = data.subarray(end + LS_BYTES.length);
    }
    if (data.length > 0) this.pending.set(ssrc, Buffer.from(data));
    else this.pending.delete(ssrc);
  }
}

/** utime + stime of a process in ms, from /proc (same clock for the relay and for Mosquitto). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
}

/** Sends publications round-robin over the publishers at `rate` each, until `seconds` have passed. */
async function paced(w: Workload, send: (pub: number, seq: number) => void): Promise<number> {
  const total = Math.max(1, Math.round(w.rate * w.seconds)) * w.publishers;
  const start = process.hrtime.bigint();
  let sent = 0;
  while (sent < total) {
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    const due = Math.min(total, Math.floor(elapsed * w.rate * w.publishers) + 1);
    while (sent < due) {
      send(sent % w.publishers, Math.floor(sent / w.publishers));
      sent++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  return sent;
}

/** Waits until nothing more arrives for `quietMs` (or everything expected has arrived). */
async function drain(ledger: Ledger, expected: number, quietMs = 500): Promise<void> {
  let last = ledger.delivered;
  let quietSince = Date.now();
  while (ledger.delivered < expected) {
    await new Promise((r) => setTimeout(r, 20));
    if (ledger.delivered !== last) {
      last = ledger.delivered;
      quietSince = Date.now();
    } else if (Date.now() - quietSince > quietMs) return;
  }
}

class RelayProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly client: MediaRelayClient,
    private readonly pool: GrpcClientPool<MediaRelayClient>,
  ) {}

  static async start(portMin: number, portMax: number): Promise<RelayProcess> {
    const child = spawn(
      process.execPath,
      [...process.execArgv, path.join(HERE, 'fanout-relay.ts'), String(portMin), String(portMax)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const grpcPort = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        const m = /\{"grpcPort":(\d+)\}/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`relay process exited with ${code}`)));
    });
    const pool = new GrpcClientPool<MediaRelayClient>(contracts.MediaRelay);
    return new RelayProcess(child, pool.get(`127.0.0.1:${grpcPort}`), pool);
  }

  allocate(spec: LegSpec): Promise<LegAllocation__Output> {
    return unary<LegSpec, LegAllocation__Output>(this.client, 'AllocateLeg', spec);
  }

  async packetsOut(conferenceId: string): Promise<number | undefined> {
    const stats = await unary<object, StatsResponse__Output>(this.client, 'Stats', {});
    const topic = stats.topics.find((t) => t.conferenceId === conferenceId);
    return topic ? Number(topic.deliveriesOut) : undefined;
  }

  release(conferenceId: string, legId: string): Promise<unknown> {
    return unary(this.client, 'ReleaseLeg', { conferenceId, legId });
  }

  async stop(): Promise<void> {
    this.pool.close();
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

async function udpSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

let conferenceSeq = 0;

async function throughRelay(
  relay: RelayProcess,
  w: Workload,
  mode: 'translate' | 'aggregate',
): Promise<Outcome> {
  const conferenceId = `bench-${process.pid}-${++conferenceSeq}`;
  const ledger = new Ledger(w.publishers);
  ledger.recordFrom = Math.floor(w.rate * w.seconds * 0.1);
  const sockets: dgram.Socket[] = [];
  const legIds: string[] = [];
  const keepalives: NodeJS.Timeout[] = [];
  const base = (legId: string, port: number, publishes: boolean): LegSpec => ({
    conferenceId,
    legId,
    publishes,
    subscribes: !publishes,
    remoteHost: '127.0.0.1',
    remotePort: port,
    t140Pt: T140_PT,
    redPt: RED_PT,
    redundancy: 2,
    mode: mode === 'translate' ? 'FORWARDING_MODE_TRANSLATE' : 'FORWARDING_MODE_AGGREGATE',
    aggregateWindowMs: mode === 'aggregate' ? AGGREGATE_WINDOW_MS : 0,
  });
  try {
    for (let i = 0; i < w.subscribers; i++) {
      const s = await udpSocket();
      const lines = new LineReceiver((line) => ledger.arrived(line, process.hrtime.bigint()));
      s.on('message', (m) => lines.packet(m));
      sockets.push(s);
      legIds.push(`sub-${i}`);
      const leg = await relay.allocate(base(`sub-${i}`, s.address().port, false));
      // Media consent (README): the relay sends to a leg only after hearing from it (RFC 6263 keep-alive).
      const keepalive = () => s.send(new Uint8Array(0), leg.port, '127.0.0.1');
      keepalive();
      keepalives.push(setInterval(keepalive, 5_000));
    }
    const publishers: { socket: dgram.Socket; port: number; sender: T140Sender }[] = [];
    for (let i = 0; i < w.publishers; i++) {
      const s = await udpSocket();
      sockets.push(s);
      legIds.push(`pub-${i}`);
      const leg = await relay.allocate({
        ...base(`pub-${i}`, s.address().port, true),
        mode: 'FORWARDING_MODE_TRANSLATE',
        aggregateWindowMs: 0,
      });
      publishers.push({
        socket: s,
        port: leg.port,
        sender: new T140Sender({ ssrc: 0x5000_0000 + i, t140Pt: T140_PT, redPt: RED_PT }),
      });
    }
    const cpu0 = await cpuMs(relay.child.pid!);
    const t0 = process.hrtime.bigint();
    const sent = await paced(w, (pub, seq) => {
      const p = publishers[pub];
      const now = process.hrtime.bigint();
      ledger.sentAt[pub][seq] = now;
      for (const packet of p.sender.send(pack(pub, seq) + LS, Number(now / 1_000_000n)))
        p.socket.send(serializeRtp(packet), p.port, '127.0.0.1');
    });
    await drain(ledger, sent * w.subscribers, mode === 'aggregate' ? 500 + AGGREGATE_WINDOW_MS : 500);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = (await cpuMs(relay.child.pid!)) - cpu0;
    return {
      serverPacketsOut: await relay.packetsOut(conferenceId).catch(() => undefined),
      system: mode === 'translate' ? 'relay translate' : `relay aggregate ${AGGREGATE_WINDOW_MS}ms`,
      sent,
      delivered: ledger.delivered,
      deliveriesPerSecond: ledger.delivered / seconds,
      serverCpuUsPerDelivery: (cpu * 1000) / Math.max(1, ledger.delivered),
      latency: ledger.latency,
    };
  } finally {
    for (const k of keepalives) clearInterval(k);
    await Promise.all(legIds.map((id) => relay.release(conferenceId, id).catch(() => undefined)));
    for (const s of sockets) s.close();
  }
}

/** Whether the relay accepts aggregate legs and delivers through them (another part of the project adds it). */
async function aggregateAvailable(relay: RelayProcess): Promise<string | undefined> {
  try {
    const probe = await throughRelay(
      relay,
      { publishers: 1, subscribers: 1, rate: 20, seconds: 0.5 },
      'aggregate',
    );
    return probe.delivered > 0 ? undefined : 'aggregate legs deliver nothing';
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}

class Mosquitto {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<Mosquitto> {
    const port = await freePort('tcp');
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-mosquitto-'));
    const conf = path.join(dir, 'mosquitto.conf');
    // Loopback only, anonymous, no persistence or logging; Nagle off like our UDP path has no batching.
    await writeFile(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'log_dest none',
        'set_tcp_nodelay true',
        'max_connections -1',
        '',
      ].join('\n'),
    );
    const bin = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';
    const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString('utf8');
    });
    // Wait until it accepts connections.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          reconnectPeriod: 0,
          connectTimeout: 1_000,
        });
        await c.endAsync();
        break;
      } catch {
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(`mosquitto did not start: ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return new Mosquitto(child, port, dir);
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function mqttClient(port: number): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    protocolVersion: 4,
    clean: true,
  });
  (c.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return c;
}

async function throughMosquitto(broker: Mosquitto, w: Workload): Promise<Outcome> {
  const topic = `bench/${process.pid}/${++conferenceSeq}`;
  const ledger = new Ledger(w.publishers);
  ledger.recordFrom = Math.floor(w.rate * w.seconds * 0.1);
  const clients: mqtt.MqttClient[] = [];
  try {
    for (let i = 0; i < w.subscribers; i++) {
      const c = await mqttClient(broker.port);
      c.on('message', (_t, payload) => ledger.arrived(payload.toString('utf8'), process.hrtime.bigint()));
      await c.subscribeAsync(topic, { qos: 0 });
      clients.push(c);
    }
    const publishers: mqtt.MqttClient[] = [];
    for (let i = 0; i < w.publishers; i++) publishers.push(await mqttClient(broker.port));
    clients.push(...publishers);
    const cpu0 = await cpuMs(broker.child.pid!);
    const t0 = process.hrtime.bigint();
    const sent = await paced(w, (pub, seq) => {
      ledger.sentAt[pub][seq] = process.hrtime.bigint();
      publishers[pub].publish(topic, pack(pub, seq), { qos: 0 });
    });
    await drain(ledger, sent * w.subscribers);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = (await cpuMs(broker.child.pid!)) - cpu0;
    return {
      system: 'mosquitto QoS 0',
      sent,
      delivered: ledger.delivered,
      deliveriesPerSecond: ledger.delivered / seconds,
      serverCpuUsPerDelivery: (cpu * 1000) / Math.max(1, ledger.delivered),
      latency: ledger.latency,
    };
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  }
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

export async function main(): Promise<void> {
  const seconds = flag('seconds', 3);
  const target = flag('target', 20_000);
  printHeader(
    'Fan-out: media relay vs Mosquitto',
    `npm run bench -- fanout --seconds ${seconds} --target ${target}`,
  );
  process.stdout.write(
    [
      `workload: P publishers → S subscribers on 127.0.0.1; each publication is one SenML pack (${Buffer.byteLength(pack(0, 0))} bytes),`,
      `  over RTP as a T.140 line in RED (2 generations), over MQTT as the payload (QoS 0, clean session, TCP_NODELAY).`,
      `  offered load: ${fmt.int(target)} deliveries/s (rate per publisher = target / (P × S), at most ${MAX_RATE_PER_PUBLISHER}/s), for ${seconds} s;`,
      "  latency: publish call → subscriber socket callback, first 10% of each publisher's publications excluded;",
      '  server CPU: utime+stime of the relay process / the mosquitto process from /proc; publishers and',
      '  subscribers share this one Node process (its event loop also limits what can be received).',
      '  srv pkts out: RTP packets the relay counted as sent to subscriber legs (Stats); when it exceeds',
      '  "delivered" in translate mode, the datagrams were dropped on the receiving side, not by the relay.',
      '',
    ].join('\n'),
  );
  const range = 40_000 + Math.floor(Math.random() * 10) * 2_000;
  const relay = await RelayProcess.start(range, range + 1_999);
  const mosquitto = await Mosquitto.start().catch((err: Error) => err);
  const aggregateProblem = await aggregateAvailable(relay);
  const rows: (string | number)[][] = [
    [
      'P→S',
      'system',
      'rate/pub',
      'sent',
      'delivered',
      'lost %',
      'srv pkts out',
      'deliv/s',
      'CPU µs/deliv',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
    ],
  ];
  const ms = (h: hdr.Histogram, p: number) => fmt.fixed(h.getValueAtPercentile(p) / 1000, 2);
  const add = (w: Workload, o: Outcome) => {
    const expected = o.sent * w.subscribers;
    rows.push([
      `${w.publishers}→${w.subscribers}`,
      o.system,
      fmt.fixed(w.rate, 0),
      fmt.int(o.sent),
      fmt.int(o.delivered),
      fmt.fixed((100 * (expected - o.delivered)) / expected, 2),
      o.serverPacketsOut === undefined ? '-' : fmt.int(o.serverPacketsOut),
      fmt.int(o.deliveriesPerSecond),
      fmt.fixed(o.serverCpuUsPerDelivery, 2),
      ms(o.latency, 50),
      ms(o.latency, 90),
      ms(o.latency, 99),
      fmt.fixed(o.latency.maxValue / 1000, 2),
    ]);
  };
  try {
    for (const publishers of [1, 10]) {
      for (const subscribers of [10, 100, 1_000]) {
        const w: Workload = {
          publishers,
          subscribers,
          rate: Math.min(MAX_RATE_PER_PUBLISHER, target / (publishers * subscribers)),
          seconds,
        };
        add(w, await throughRelay(relay, w, 'translate'));
        if (aggregateProblem === undefined) add(w, await throughRelay(relay, w, 'aggregate'));
        if (!(mosquitto instanceof Error)) add(w, await throughMosquitto(mosquitto, w));
        process.stderr.write(`  done ${publishers}→${subscribers}\n`);
      }
    }
  } finally {
    await relay.stop();
    if (!(mosquitto instanceof Error)) await mosquitto.stop();
  }
  printTable(rows);
  if (aggregateProblem !== undefined)
    process.stdout.write(`\naggregate: not available (${aggregateProblem})\n`);
  if (mosquitto instanceof Error)
    process.stdout.write(
      `\nmosquitto: not available (${mosquitto.message}); install Debian's mosquitto package to compare\n`,
    );
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
