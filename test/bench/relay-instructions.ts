// A deterministic driver of the relay's translate path for instruction counts: one publisher leg and S
// subscriber legs in one RelayCore (the service's metrics), N publications fed to onDatagram in a loop,
// no event loop turns, no child process. Run it twice under callgrind with two N and subtract, so start-up
// cancels out and what is left is instructions per publication and per delivery:
//   valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=a.out \
//     node --import tsx test/bench/relay-instructions.ts --subscribers 100 --packets 2000 [--send dgram]
// --send none (default): each delivery is the leg's send function returning at once, so only the relay's
// own work is counted; --send dgram: a real node:dgram socket send (its JavaScript and the syscall
// entry; the kernel's work is not counted by callgrind). --remap gives subscribers other payload types.
// --share bus: every forwarded packet also goes on an in-process bus with the service's headers, as every
// relay did before it knew whether anyone reads (media-sharing.ts); --share none (default): as a single
// relay nobody else reads does now.
// --profile F writes a V8 CPU profile of the measured loop (read it with cpuprofile-top.ts). Figures only.
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
import { createRegistry, InProcessBus } from '@sip-pubsub/platform';

const flag = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
};
const subscribers = Number(flag('subscribers', '100'));
const packets = Number(flag('packets', '2000'));
const warmup = Number(flag('warmup', '2000'));
const sendKind = flag('send', 'none');
const remap = process.argv.includes('--remap');
const profileFile = flag('profile', '');
const bus = flag('share', 'none') === 'bus' ? new InProcessBus() : undefined;
const HOST = '127.0.0.1';

const registry = createRegistry('relay', 'instructions');
const topics = new TopicMetrics(registry, 10, () => new Map());
const counters = relayCounters(registry, topics);
let deliveries = 0;
const core = new RelayCore({
  latching: true,
  maxPackBytes: 65_536,
  counters,
  share: (conferenceId, legId, packet, receivedAt, pts) =>
    bus?.publish(`pubsub.media.${conferenceId}`, packet, {
      relay: 'instructions',
      leg: legId,
      'received-at': String(receivedAt),
      't140-pt': String(pts.t140Pt),
      ...(pts.redPt !== undefined ? { 'red-pt': String(pts.redPt) } : {}),
    }),
});

// One socket for every send with --send dgram (its queue never fills: loopback to a port nobody reads).
let socket: dgram.Socket | undefined;
if (sendKind === 'dgram') {
  socket = dgram.createSocket({
    type: 'udp4',
    lookup: (address, _family, callback) => callback(null, address, 4),
  });
  // With a lookup that answers at once, 'listening' comes inside bind(): listen first.
  const bound = socket;
  await new Promise<void>((resolve) => bound.bind(0, HOST, resolve));
}
const sink = dgram.createSocket('udp4');
sink.bind(0, HOST);
await once(sink, 'listening');
const sinkPort = sink.address().port;
// Nobody reads the sink: the kernel drops what overflows its buffer.

const send = socket
  ? boundedSender(socket, 1 << 24, () => counters.dropped('send-queue-full'))
  : () => {
      deliveries++;
      return true;
    };

const leg = (id: string, publishes: boolean, port: number): Leg => {
  const pts = remap && !publishes ? { t140Pt: 99, redPt: 101 } : { t140Pt: 98, redPt: 100 };
  const options: LegOptions = {
    conferenceId: 'conf',
    legId: id,
    publishes,
    subscribes: !publishes,
    remoteHost: HOST,
    remotePort: port,
    ...pts,
    invalidData: 'drop',
    mode: 'translate',
    redundancy: 2,
  };
  const l = new Leg(options, 40_000, send, { packetsPerSecond: 1_000_000_000, mixBufferMs: 0 });
  core.addLeg(l);
  return l;
};
const publisher = leg('pub', true, 50_000);
const subs = Array.from({ length: subscribers }, (_, i) => leg(`sub-${i}`, false, sinkPort));
// Latching and media consent: a datagram from each peer's address (an empty keep-alive).
const empty = new Uint8Array(0);
core.onDatagram(publisher, empty, HOST, 50_000);
for (const s of subs) core.onDatagram(s, empty, HOST, sinkPort);

const sender = new T140Sender({ ssrc: 0x1234, t140Pt: 98, redPt: 100, generations: 2, initialTimestamp: 0 });
let n = 0;
const publish = (count: number) => {
  for (let i = 0; i < count; i++, n++) {
    const line = `[{"bn":"urn:dev:bench:","n":"t","v":${(20 + (n % 100) / 10).toFixed(1)},"t":${n}}]\u2028`;
    for (const p of sender.send(line, n * 20)) core.onDatagram(publisher, serializeRtp(p), HOST, 50_000);
  }
};

publish(warmup);
const session = profileFile ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 50 });
  await session.post('Profiler.start');
}
const d0 = deliveries;
const cpu0 = process.cpuUsage();
publish(packets);
const cpu = process.cpuUsage(cpu0);
if (session) {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(profileFile, JSON.stringify(profile));
  session.disconnect();
}
const measured = socket ? packets * subscribers : deliveries - d0;
const us = cpu.user + cpu.system;
process.stdout.write(
  `relay-instructions: ${subscribers} subscribers, ${packets} publications measured after ${warmup}, send ${sendKind}, share ${bus ? 'bus' : 'none'}${remap ? ', remap' : ''}: ${measured} deliveries, ${(us / measured).toFixed(3)} µs CPU per delivery\n`,
);
socket?.close();
sink.close();
