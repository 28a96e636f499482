// Issue 7 fuzz job: against a running split deployment (four processes and nats-server), mutated SIP over
// UDP and TCP and mutated RTP at a real relay leg, for a bounded time. At the end every process must be the
// same PID and the broker must still answer OPTIONS and a whole join. FUZZ_SEED reproduces a run.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive, type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';
import { Dice, mutateRtp, mutateSip, prng, routesOnlyTo } from './mutate.js';
import { createTopic, joinAndLeave, metricSum, tcpOptions, tcpRequest, textOffer } from './raw-peers.js';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000_007);
const SIP_MS = 7_000;
const RTP_MS = 5_000;
/** The fuzzer speaks from a second loopback address, so the final checks from 127.0.0.1 see a fresh budget. */
const FUZZER = '127.0.0.2';

let broker: RunningBroker;
let confUri: string;

beforeAll(async () => {
  // Budgets above the fuzzer's rate but not off: most mutants reach the parser, and the pre-parse gate and
  // its stateless 503s still see every one of them.
  broker = await startSeparateProcesses({
    relayPorts: 1000,
    env: { SIP_RATE_PER_SOURCE: '1000:2000', SIP_RATE_PER_SOURCE_IN_DIALOG: '1000:2000' },
  });
  const sip = await RawSipSocket.open();
  try {
    confUri = await createTopic(sip, broker.sipPort, 'chaos/fuzz');
  } finally {
    sip.close();
  }
});
afterAll(async () => {
  await broker?.stop();
});

/** The templates, as a peer at `host:port` over `transport` would send them. */
function templates(host: string, port: number, transport: 'UDP' | 'TCP'): string[] {
  const fix = (text: string) =>
    text
      .replace(/SIP\/2\.0\/UDP 127\.0\.0\.1:\d+/, `SIP/2.0/${transport} ${host}:${port}`)
      .replace(/@127\.0\.0\.1:\d+>/, `@${host}:${port}>`)
      .replace(/^c=IN IP4 127\.0\.0\.1$/m, `c=IN IP4 ${host}`);
  const base = { localPort: port, callId: token(10) };
  return [
    rawRequest({ ...base, method: 'OPTIONS', uri: 'sip:factory@localhost' }),
    rawRequest({ ...base, method: 'INVITE', uri: 'sip:factory@localhost', headers: ['Subject: fuzz/topic'] }),
    rawRequest({
      ...base,
      method: 'INVITE',
      uri: confUri,
      headers: ['Content-Type: application/sdp'],
      body: textOffer('recvonly', 9),
    }),
    rawRequest({
      ...base,
      method: 'SUBSCRIBE',
      uri: confUri,
      headers: ['Event: conference', 'Expires: 30', 'Accept: application/conference-info+xml'],
    }),
    rawRequest({
      ...base,
      method: 'SUBSCRIBE',
      uri: 'sip:factory@localhost',
      headers: ['Event: pubsub-conferences'],
    }),
    rawRequest({ ...base, method: 'BYE', uri: confUri, toTag: token(), cseq: 2 }),
    rawRequest({ ...base, method: 'CANCEL', uri: confUri }),
  ].map(fix);
}

interface Tally {
  sent: number;
  skipped: number;
  responses: Map<string, number>;
  /** Server errors by status line: each is a candidate defect (bad input should get a 4xx). */
  serverErrors: Map<string, number>;
}

const newTally = (): Tally => ({ sent: 0, skipped: 0, responses: new Map(), serverErrors: new Map() });
const countResponse = (tally: Tally, text: string) => {
  const status = /^SIP\/2\.0 (\d)\d\d/.exec(text)?.[1];
  if (status) tally.responses.set(`${status}xx`, (tally.responses.get(`${status}xx`) ?? 0) + 1);
  if (status === '5') {
    // Sizes and versions vary per mutant; the kind of error is what matters.
    const line = text
      .slice(0, text.indexOf('\r\n'))
      .slice(0, 60)
      .replace(/\d+/g, (d, at) => (at < 12 ? d : 'N'));
    tally.serverErrors.set(line, (tally.serverErrors.get(line) ?? 0) + 1);
  }
};
const show = (t: Tally) =>
  `sent ${t.sent} (${t.skipped} mutants skipped as non-loopback), responses ${JSON.stringify(Object.fromEntries(t.responses))}, ` +
  `5xx ${JSON.stringify(Object.fromEntries(t.serverErrors))}`;

async function fuzzUdp(dice: Dice): Promise<Tally> {
  const tally = newTally();
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, FUZZER, resolve));
  socket.on('message', (m) => countResponse(tally, m.toString('latin1')));
  const forms = templates(FUZZER, socket.address().port, 'UDP');
  const deadline = Date.now() + SIP_MS;
  while (Date.now() < deadline) {
    for (let i = 0; i < 20; i++) {
      const template = dice.pick(forms);
      const mutant = mutateSip(template, dice, 60_000);
      if (!routesOnlyTo(mutant, template)) {
        tally.skipped++;
        continue;
      }
      socket.send(mutant, broker.sipPort, '127.0.0.1');
      tally.sent++;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 500));
  socket.close();
  return tally;
}

async function fuzzTcp(dice: Dice): Promise<Tally & { connections: number; resets: number }> {
  const tally = { ...newTally(), connections: 0, resets: 0 };
  const deadline = Date.now() + SIP_MS;
  while (Date.now() < deadline) {
    // One connection carries a few mutants (a lying Content-Length desynchronises the rest), then ends
    // with a FIN or a reset.
    await new Promise<void>((resolve) => {
      const socket = net.connect({ port: broker.sipPort, host: '127.0.0.1', localAddress: FUZZER });
      tally.connections++;
      const done = () => resolve();
      socket.on('error', done);
      socket.on('close', done);
      socket.on('data', (chunk) => {
        for (const part of chunk.toString('latin1').split(/(?=SIP\/2\.0 \d{3} )/)) countResponse(tally, part);
      });
      socket.on('connect', async () => {
        const forms = templates(FUZZER, socket.localPort ?? 0, 'TCP');
        const count = 1 + dice.int(8);
        for (let i = 0; i < count && !socket.destroyed; i++) {
          const template = dice.pick(forms);
          const mutant = mutateSip(template, dice, 70_000);
          if (!routesOnlyTo(mutant, template)) {
            tally.skipped++;
            continue;
          }
          // Sometimes in pieces, so the framer sees a message split at any byte.
          if (dice.chance(0.3)) {
            const cut = dice.int(mutant.length);
            socket.write(mutant.subarray(0, cut));
            await new Promise((r) => setImmediate(r));
            socket.write(mutant.subarray(cut));
          } else socket.write(mutant);
          tally.sent++;
        }
        await new Promise((r) => setTimeout(r, 20 + dice.int(30)));
        if (dice.chance(0.3)) {
          tally.resets++;
          socket.resetAndDestroy();
        } else socket.end();
        setTimeout(done, 200);
      });
    });
  }
  return tally;
}

async function fuzzRtp(dice: Dice): Promise<{ sent: number; relay: string; received: number }> {
  // A real leg: join the topic as publisher from the socket that will send, and one subscriber.
  const sip = await RawSipSocket.open();
  const publisherRtp = dgram.createSocket('udp4');
  const subscriberRtp = dgram.createSocket('udp4');
  await new Promise<void>((r) => publisherRtp.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => subscriberRtp.bind(0, '127.0.0.1', r));
  let received = 0;
  subscriberRtp.on('message', () => received++);
  try {
    const join = async (direction: string, rtpPort: number) => {
      const callId = token(10);
      const fromTag = token();
      const ok = await sip.request(
        rawRequest({
          method: 'INVITE',
          uri: confUri,
          localPort: sip.port,
          callId,
          fromTag,
          headers: ['Content-Type: application/sdp'],
          body: textOffer(direction, rtpPort),
        }),
        broker.sipPort,
      );
      expect(ok.status, ok.raw).toBe(200);
      const toTag = /;tag=([^;>\s]+)/.exec(ok.headers.get('to')?.[0] ?? '')?.[1];
      sip.send(
        rawRequest({ method: 'ACK', uri: confUri, localPort: sip.port, callId, fromTag, toTag }),
        broker.sipPort,
      );
      return {
        host: /^c=IN IP4 (\S+)/m.exec(ok.body)?.[1] ?? '',
        port: Number(/^m=text (\d+) /m.exec(ok.body)?.[1]),
      };
    };
    await join('recvonly', subscriberRtp.address().port);
    const relay = await join('sendonly', publisherRtp.address().port);
    expect(relay.host).toMatch(/^127\./);
    const ssrc = dice.int(2 ** 32);
    let sent = 0;
    let seq = dice.int(65536);
    let ts = dice.int(2 ** 32);
    const deadline = Date.now() + RTP_MS;
    while (Date.now() < deadline) {
      for (let i = 0; i < 20; i++) {
        ts += 300;
        seq++;
        const packet = dice.chance(0.1) ? dice.bytes(dice.int(200)) : mutateRtp(dice, seq, ts, ssrc);
        // Most to the RTP port, some to the port above it (RTCP when not muxed).
        publisherRtp.send(packet, relay.port + (dice.chance(0.1) ? 1 : 0), relay.host);
        sent++;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return { sent, relay: `${relay.host}:${relay.port}`, received };
  } finally {
    sip.close();
    publisherRtp.close();
    subscriberRtp.close();
  }
}

describe('fuzz job against separate processes', () => {
  it('survives mutated SIP over UDP and TCP and mutated RTP: same PIDs, still answers OPTIONS and a join', async () => {
    console.log(`[fuzz] seed ${SEED} (FUZZ_SEED=${SEED} reproduces the mutants)`);
    const services = broker.services!;
    const pids = services.map((s) => s.pid);
    const dice = new Dice(prng(SEED));

    const udp = await fuzzUdp(dice);
    console.log(`[fuzz] SIP over UDP: ${show(udp)}`);
    const tcp = await fuzzTcp(dice);
    console.log(`[fuzz] SIP over TCP: ${show(tcp)}, ${tcp.connections} connections, ${tcp.resets} reset`);
    const rtp = await fuzzRtp(dice);
    console.log(
      `[fuzz] RTP: ${rtp.sent} mutated packets to ${rtp.relay}, ${rtp.received} forwarded to the subscriber`,
    );

    const internalErrors = [udp, tcp].reduce(
      (n, t) =>
        n +
        [...t.serverErrors].filter(([line]) => line.startsWith('SIP/2.0 500')).reduce((m, [, c]) => m + c, 0),
      0,
    );
    console.log(
      `[fuzz] 500 responses to mutated input: ${internalErrors} (each is bad input that deserves a 4xx)`,
    );
    // Bad input deserves a 4xx with a reason: a 500 is a defect to fix, not a figure to print.
    expect(
      internalErrors,
      `500s to mutated input: ${show(udp)}; ${show(tcp)}\n${broker.logs().slice(-4000)}`,
    ).toBe(0);
    const edge = services.find((s) => s.name === 'signalling-edge')!;
    const alive = services.map((s) => processAlive(s.pid));
    console.log(
      `[fuzz] processes ${services.map((s, i) => `${s.instanceId}(${s.pid})=${alive[i] ? 'alive' : 'GONE'}`).join(' ')}`,
    );
    expect(
      pids.filter((p) => processAlive(p)),
      broker.logs(),
    ).toEqual(pids);
    console.log(
      `[fuzz] edge: invalid messages ${await metricSum(edge.httpPort, 'sip_pubsub_sip_invalid_messages_total')}, ` +
        `contained faults ${await metricSum(edge.httpPort, 'sip_pubsub_sip_transport_faults_total')}, ` +
        `refused before parsing ${await metricSum(edge.httpPort, 'sip_pubsub_sip_preparse_refused_total')}`,
    );
    expect(udp.sent).toBeGreaterThan(1000);
    expect(tcp.sent).toBeGreaterThan(200);
    expect(rtp.sent).toBeGreaterThan(1000);

    const sip = await RawSipSocket.open();
    try {
      const options = await sip.request(
        rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: sip.port }),
        broker.sipPort,
      );
      expect(options.status).toBe(200);
      expect((await tcpRequest(broker.sipPort, (p) => tcpOptions(p))).status).toBe(200);
      const join = await joinAndLeave(sip, broker.sipPort, 'chaos/fuzz/after');
      console.log(`[fuzz] join after the fuzz: ${join.ok ? 'ok' : join.failure} in ${join.ms} ms`);
      expect(join.ok, join.failure).toBe(true);
    } finally {
      sip.close();
    }
  });
});
