// One load-generator process of the ceiling benchmark (ceiling.bench.ts forks several): either a
// subscriber worker, holding many receivers of one protocol with the cheapest reader it allows (raw UDP
// sockets for RTP, raw TCP with the MQTT 3.1.1 / NATS readers in wire/), counting stamped packs of the
// current step and recording their latency; or the publisher worker, sending stamped packs at a paced
// rate. Driven over the IPC channel by request/reply messages {id, cmd, ...} → {id, ...}.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { serializeRtp, T140Sender } from '@sip-pubsub/media';
import * as hdr from 'hdr-histogram-js';
import * as mqtt from './wire/mqtt.js';
import * as nats from './wire/nats.js';
import { primaryBlockStart, readStamp, stampedPack } from './wire/stamp.js';

export const T140_PT = 98;
export const RED_PT = 100;
const LS = '\u2028';

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

let step = -1;
let count = 0;
/** Publications numbered below this are counted but not timed (the start of a step warms up the JIT). */
let recordFrom = 0;
const latency = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 600_000_000,
  numberOfSignificantValueDigits: 3,
});

/** A stamped pack arrived at a receiver: counted and timed when it belongs to the current step. */
function arrived(buf: Buffer, start: number, end: number): void {
  const s = readStamp(buf, start, end);
  if (!s || s.step !== step) return;
  count++;
  if (s.seq >= recordFrom) latency.recordValue(Math.max(1, nowUs() - s.sentUs));
}

const udpSockets: dgram.Socket[] = [];
const tcpSockets: net.Socket[] = [];
const keepalives: NodeJS.Timeout[] = [];

async function openUdp(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    s.on('message', (m) => {
      const at = primaryBlockStart(m, RED_PT);
      if (at >= 0) arrived(m, at, m.length);
    });
    udpSockets.push(s);
    ports.push(s.address().port);
  }
  return ports;
}

/** RFC 6263 keep-alives to each socket's relay leg: the relay's media consent needs to hear the leg. */
function consent(targets: number[]): void {
  const send = () => {
    for (let i = 0; i < targets.length; i++) udpSockets[i]?.send(new Uint8Array(0), targets[i], '127.0.0.1');
  };
  send();
  keepalives.push(setInterval(send, 5_000));
}

function tcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** In batches, so ten thousand connections do not all wait in the server's accept queue at once. */
async function batched<T>(n: number, open: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += 200)
    out.push(...(await Promise.all(Array.from({ length: Math.min(200, n - i) }, (_, j) => open(i + j)))));
  return out;
}

/** A raw MQTT subscriber (or, with no filter, a publisher): CONNECT, CONNACK, SUBSCRIBE, SUBACK. */
async function mqttConnection(port: number, id: string, filter?: string): Promise<net.Socket> {
  const s = await tcp(port);
  await new Promise<void>((resolve, reject) => {
    const reader = new mqtt.MqttFrameReader((header, buf, start, end) => {
      const type = header >> 4;
      if (type === mqtt.MQTT.PUBLISH) {
        const p = mqtt.parsePublish(header, buf, start, end);
        arrived(buf, p.payloadStart, end);
      } else if (type === mqtt.MQTT.CONNACK) {
        if (buf[start + 1] !== 0) reject(new Error(`CONNACK refused: ${buf[start + 1]}`));
        else if (filter) s.write(mqtt.encodeSubscribe(1, filter));
        else resolve();
      } else if (type === mqtt.MQTT.SUBACK) resolve();
    });
    s.on('data', (c: Buffer) => reader.push(c));
    s.write(mqtt.encodeConnect(id, 600));
  });
  tcpSockets.push(s);
  return s;
}

/** A raw NATS subscriber (or publisher): CONNECT [SUB] PING, ready at the PONG. */
async function natsConnection(port: number, subject?: string): Promise<net.Socket> {
  const s = await tcp(port);
  await new Promise<void>((resolve, reject) => {
    let ready = false;
    const reader = new nats.NatsFrameReader((e) => {
      if (e.op === 'MSG') arrived(e.buf, e.start, e.end);
      else if (e.op === 'PING') s.write(nats.PONG);
      else if (e.op === 'INFO' && !ready) {
        s.write(
          Buffer.concat([
            nats.encodeConnect(),
            subject ? nats.encodeSub(subject, 1) : Buffer.alloc(0),
            nats.PING,
          ]),
        );
      } else if (e.op === 'PONG' && !ready) {
        ready = true;
        resolve();
      } else if (e.op === '-ERR') reject(new Error(`nats-server: ${e.text}`));
    });
    s.on('data', (c: Buffer) => reader.push(c));
  });
  tcpSockets.push(s);
  return s;
}

/** The publisher side: one send function per publisher. */
let publishers: ((text: string) => void)[] = [];

async function paced(runStep: number, ratePerPublisher: number, seconds: number): Promise<number> {
  const perPub = Math.max(1, Math.round(ratePerPublisher * seconds));
  const total = perPub * publishers.length;
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const elapsed = (performance.now() - start) / 1000;
    const due = Math.min(total, Math.floor(elapsed * ratePerPublisher * publishers.length) + 1);
    for (const s of tcpSockets) s.cork();
    while (sent < due) {
      const pub = sent % publishers.length;
      publishers[pub](stampedPack(runStep, pub, Math.floor(sent / publishers.length), nowUs()));
      sent++;
    }
    for (const s of tcpSockets) s.uncork();
    await new Promise((r) => setTimeout(r, 1));
  }
  return sent;
}

type Command =
  | { cmd: 'udp'; n: number }
  | { cmd: 'consent'; targets: number[] }
  | { cmd: 'mqtt'; n: number; port: number; topic: string }
  | { cmd: 'nats'; n: number; port: number; subject: string }
  | { cmd: 'udp-pub'; targets: number[] }
  | { cmd: 'mqtt-pub'; n: number; port: number; topic: string }
  | { cmd: 'nats-pub'; n: number; port: number; subject: string }
  | { cmd: 'step'; step: number; recordFrom: number }
  | { cmd: 'count' }
  | { cmd: 'report' }
  | { cmd: 'run'; step: number; rate: number; seconds: number }
  | { cmd: 'close' };

async function handle(c: Command): Promise<object> {
  switch (c.cmd) {
    case 'udp':
      return { ports: await openUdp(c.n) };
    case 'consent':
      consent(c.targets);
      return {};
    case 'mqtt':
      await batched(c.n, (i) => mqttConnection(c.port, `s${process.pid}-${i}`, c.topic));
      return {};
    case 'nats':
      await batched(c.n, () => natsConnection(c.port, c.subject));
      return {};
    case 'udp-pub': {
      // The publisher sockets were opened by an earlier 'udp' (their ports went into the legs); one each.
      const sockets = udpSockets.slice(-c.targets.length);
      publishers = c.targets.map((target, i) => {
        const sender = new T140Sender({ ssrc: 0x5000_0000 + i, t140Pt: T140_PT, redPt: RED_PT });
        const socket = sockets[i];
        return (text: string) => {
          for (const p of sender.send(text + LS, Date.now()))
            socket.send(serializeRtp(p), target, '127.0.0.1');
        };
      });
      return {};
    }
    case 'mqtt-pub': {
      const sockets = await batched(c.n, (i) => mqttConnection(c.port, `p${process.pid}-${i}`));
      publishers = sockets.map(
        (s) => (text: string) => s.write(mqtt.encodePublish(c.topic, Buffer.from(text))),
      );
      return {};
    }
    case 'nats-pub': {
      const sockets = await batched(c.n, () => natsConnection(c.port));
      publishers = sockets.map(
        (s) => (text: string) => s.write(nats.encodePub(c.subject, Buffer.from(text))),
      );
      return {};
    }
    case 'step':
      step = c.step;
      recordFrom = c.recordFrom;
      count = 0;
      latency.reset();
      return {};
    case 'count':
      return { count };
    case 'report':
      return { count, histogram: hdr.encodeIntoCompressedBase64(latency) };
    case 'run':
      return { sent: await paced(c.step, c.rate, c.seconds) };
    case 'close':
      for (const k of keepalives.splice(0)) clearInterval(k);
      for (const s of udpSockets.splice(0)) s.close();
      for (const s of tcpSockets.splice(0)) s.destroy();
      publishers = [];
      return {};
  }
}

process.on('message', (m: { id: number } & Command) => {
  handle(m).then(
    (reply) => process.send!({ id: m.id, ...reply }),
    (err: Error) => process.send!({ id: m.id, error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
