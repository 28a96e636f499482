// The relay's translate hot path alone: the relay core with real UDP sockets in this process, publishers
// and subscribers (raw UDP sockets, nothing decoded) in a child process, so this process's CPU time is
// the relay's. Prints server CPU µs per delivery for each P→S shape. Figures only, nothing asserted.
//   node --import tsx test/bench/relay-hot-path.ts [--shapes 1x100,10x100] [--seconds 5]
//        [--deliveries 20000] [--remap] [--bus none|in-process|nats]
//        [--profile <dir>]
// --profile writes a V8 CPU profile of the measured window only (no start-up or module loading) per shape,
// to read with test/bench/cpuprofile-top.ts; the child with the peers is never profiled.
import { type ChildProcess, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { serializeRtp, T140Sender } from '@sip-pubsub/media';
import {
  boundedSender,
  Leg,
  type LegOptions,
  RelayCore,
  relayCounters,
  TopicMetrics,
} from '@sip-pubsub/media-relay';
import { type Bus, connectNatsBus, createRegistry, InProcessBus } from '@sip-pubsub/platform';
import { printHeader, printTable } from './machine.js';

const T140_PT = 98;
const RED_PT = 100;
/** A subscriber's own numbers with --remap (RFC 3550 §7.1 rewrite on every delivery). */
const SUB_T140_PT = 99;
const SUB_RED_PT = 101;
const CONFERENCE = 'benchconf';
const LOOPBACK = '127.0.0.1';

interface PeerReady {
  type: 'ready';
  publishers: number[];
  subscribers: number[];
}
interface PeerDone {
  type: 'done';
  received: number;
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

// ---- child: publishers and subscribers ----

async function runPeers(): Promise<void> {
  const send = (m: PeerReady | PeerDone) => process.send?.(m);
  const publishers = Number(flag('publishers', '1'));
  const subscribers = Number(flag('subscribers', '1'));
  const bind = async () => {
    const s = dgram.createSocket('udp4');
    s.bind(0, LOOPBACK);
    await once(s, 'listening');
    return s;
  };
  const pubs = await Promise.all(Array.from({ length: publishers }, bind));
  const subs = await Promise.all(Array.from({ length: subscribers }, bind));
  let received = 0;
  for (const s of subs) s.on('message', () => received++);
  send({
    type: 'ready',
    publishers: pubs.map((s) => s.address().port),
    subscribers: subs.map((s) => s.address().port),
  });
  const [msg] = (await once(process, 'message')) as [
    { relayPublishers: number[]; relaySubscribers: number[]; ratePerPublisher: number; seconds: number },
  ];
  // Consent (README "Media consent"): each subscriber's zero-length keep-alive from its own address.
  const consent = () => {
    for (const [i, s] of subs.entries()) s.send(new Uint8Array(0), msg.relaySubscribers[i], LOOPBACK);
  };
  consent();
  const consentTimer = setInterval(consent, 5_000);
  // Publishers latch too: an empty datagram first, then text.
  for (const [i, s] of pubs.entries()) s.send(new Uint8Array(0), msg.relayPublishers[i], LOOPBACK);
  await new Promise((r) => setTimeout(r, 300));
  const senders = pubs.map(
    (_, i) =>
      new T140Sender({
        ssrc: 0x1000 + i,
        t140Pt: T140_PT,
        redPt: RED_PT,
        generations: 2,
        initialTimestamp: 0,
      }),
  );
  const started = Date.now();
  let sent = 0;
  const tickMs = 5;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = Date.now() - started;
      if (elapsed >= msg.seconds * 1000) {
        clearInterval(timer);
        resolve();
        return;
      }
      const due = Math.floor((elapsed / 1000) * msg.ratePerPublisher);
      while (sent < due) {
        for (let i = 0; i < pubs.length; i++) {
          const line = `[{"bn":"urn:dev:bench${i}:","n":"t","v":${(20 + (sent % 100) / 10).toFixed(1)},"t":${sent}}]\u2028`;
          for (const p of senders[i].send(line, started + sent))
            pubs[i].send(serializeRtp(p), msg.relayPublishers[i], LOOPBACK);
        }
        sent++;
      }
    }, tickMs);
  });
  await new Promise((r) => setTimeout(r, 500));
  clearInterval(consentTimer);
  send({ type: 'done', received });
  for (const s of [...pubs, ...subs]) s.close();
  process.exit(0);
}

// ---- parent: the relay core ----

async function makeBus(kind: string): Promise<{ bus: Bus | undefined; stop: () => Promise<void> }> {
  if (kind === 'none') return { bus: undefined, stop: async () => {} };
  if (kind === 'in-process') return { bus: new InProcessBus(), stop: async () => {} };
  const { connect } = await import('nats');
  const port = 14_222 + Math.floor(Math.random() * 1000);
  const server = spawn('nats-server', ['-a', LOOPBACK, '-p', String(port)], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    try {
      const nc = await connect({ servers: `${LOOPBACK}:${port}` });
      const bus = await connectNatsBus(nc, { ownsConnection: true });
      return {
        bus,
        stop: async () => {
          await bus.close?.();
          server.kill();
        },
      };
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

interface ShapeResult {
  shape: string;
  offered: number;
  deliveries: number;
  received: number;
  cpuUs: number;
  elapsedMs: number;
}

async function runShape(
  publishers: number,
  subscribers: number,
  seconds: number,
  deliveriesPerSecond: number,
  remap: boolean,
  busKind: string,
  profileDir: string | undefined,
): Promise<ShapeResult> {
  const registry = createRegistry('relay', 'bench-relay');
  let core: RelayCore;
  const topics = new TopicMetrics(registry, 10, () => new Map());
  const counters = relayCounters(registry, topics);
  let deliveries = 0;
  const deliveriesOut = counters.deliveriesOut;
  counters.deliveriesOut = (conferenceId, packets, bytes) => {
    deliveries += packets;
    deliveriesOut(conferenceId, packets, bytes);
  };
  const { bus, stop: stopBus } = await makeBus(busKind);
  core = new RelayCore({
    latching: true,
    maxPackBytes: 65_536,
    counters,
    // As the service does: every forwarded packet goes on the conference's subject with its headers.
    share: (conferenceId, legId, packet, receivedAt, pts) =>
      bus?.publish(`pubsub.media.${conferenceId}`, packet, {
        'x-relay': 'bench-relay',
        'x-leg': legId,
        'x-received-at': String(receivedAt),
        'x-t140-pt': String(pts.t140Pt),
        ...(pts.redPt !== undefined ? { 'x-red-pt': String(pts.redPt) } : {}),
      }),
  });

  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      new URL(import.meta.url).pathname,
      '--role',
      'peers',
      '--publishers',
      String(publishers),
      '--subscribers',
      String(subscribers),
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const [ready] = (await once(child, 'message')) as [PeerReady];
  const sockets: dgram.Socket[] = [];
  const openLeg = async (id: string, peerPort: number, publishes: boolean): Promise<number> => {
    const socket = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
    // With a lookup that answers at once, 'listening' comes inside bind(): listen first.
    await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
    sockets.push(socket);
    const pts =
      remap && !publishes ? { t140Pt: SUB_T140_PT, redPt: SUB_RED_PT } : { t140Pt: T140_PT, redPt: RED_PT };
    const options: LegOptions = {
      conferenceId: CONFERENCE,
      legId: id,
      publishes,
      subscribes: !publishes,
      remoteHost: LOOPBACK,
      remotePort: peerPort,
      ...pts,
      invalidData: 'drop',
      mode: 'translate',
      redundancy: 2,
    };
    const port = socket.address().port;
    const leg = new Leg(
      options,
      port,
      boundedSender(socket, 1 << 20, () => counters.dropped('send-queue-full')),
      { packetsPerSecond: 1_000_000, mixBufferMs: 0 },
    );
    socket.on('message', (data, rinfo) => core.onDatagram(leg, data, rinfo.address, rinfo.port));
    core.addLeg(leg);
    return port;
  };
  const relayPublishers = await Promise.all(ready.publishers.map((p, i) => openLeg(`pub-${i}`, p, true)));
  const relaySubscribers = await Promise.all(ready.subscribers.map((p, i) => openLeg(`sub-${i}`, p, false)));
  const ratePerPublisher = Math.max(1, Math.round(deliveriesPerSecond / (publishers * subscribers)));
  child.send({ relayPublishers, relaySubscribers, ratePerPublisher, seconds: seconds + 1 });
  // Measure from one second in (JIT warm, consent given) to the end of sending.
  await new Promise((r) => setTimeout(r, 1_300));
  const session = profileDir ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const d0 = deliveries;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  const elapsedMs = performance.now() - t0;
  const measured = deliveries - d0;
  if (session && profileDir) {
    const { profile } = await session.post('Profiler.stop');
    const file = `${profileDir}/relay-${publishers}x${subscribers}-${measured}.cpuprofile`;
    writeFileSync(file, JSON.stringify(profile));
    process.stderr.write(`profile of ${measured} deliveries: ${file}\n`);
    session.disconnect();
  }
  const [done] = (await once(child, 'message')) as [PeerDone];
  for (const s of sockets) s.close();
  await stopBus();
  return {
    shape: `${publishers}→${subscribers}`,
    offered: ratePerPublisher * publishers * subscribers,
    deliveries: measured,
    received: done.received,
    cpuUs: cpu.user + cpu.system,
    elapsedMs,
  };
}

/** As the relay service's sockets do: an IP literal needs no dns.lookup turn before each send. */
function literalLookup(
  address: string,
  _family: unknown,
  callback: (err: Error | null, address: string, family: number) => void,
): void {
  callback(null, address, 4);
}

async function main(): Promise<void> {
  if (flag('role', '') === 'peers') return runPeers();
  const seconds = Number(flag('seconds', '5'));
  const target = Number(flag('deliveries', '20000'));
  const remap = process.argv.includes('--remap');
  const busKind = flag('bus', 'in-process');
  const profileDir = flag('profile', '') || undefined;
  const shapes = flag('shapes', '1x100,10x100')
    .split(',')
    .map((s) => s.split('x').map(Number) as [number, number]);
  printHeader(
    `relay translate hot path (bus ${busKind}${remap ? ', subscribers with other payload types' : ''})`,
    `node ${process.execArgv.join(' ')} test/bench/relay-hot-path.ts ${process.argv.slice(2).join(' ')}`,
  );
  const rows: (string | number)[][] = [
    ['shape', 'offered/s', 'deliveries/s', 'received', 'relay CPU %', 'µs/delivery'],
  ];
  for (const [p, s] of shapes) {
    const r = await runShape(p, s, seconds, target, remap, busKind, profileDir);
    rows.push([
      r.shape,
      r.offered,
      Math.round((r.deliveries * 1000) / r.elapsedMs),
      r.received,
      ((r.cpuUs / 1000 / r.elapsedMs) * 100).toFixed(1),
      r.deliveries > 0 ? (r.cpuUs / r.deliveries).toFixed(2) : '-',
    ]);
  }
  printTable(rows);
  process.exit(0);
}

await main();
