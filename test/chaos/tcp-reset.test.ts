// Issue 7 defect 1: connect, send one valid OPTIONS, close with a reset (SO_LINGER 0). The reset socket had
// no remote address, the edge stamped an empty received= into Via, and the next parse of that Via threw in
// the socket's data path and ended the process. Now the broker must survive the loop and still answer.
import * as net from 'node:net';
import { freePort } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  processAlive,
  type RunningBroker,
  startEmbedded,
  startSeparateProcesses,
} from '../support/brokers.js';
import { RawSipSocket, rawRequest } from '../support/raw-sip.js';
import { metricSum, tcpOptions, tcpRequest } from './raw-peers.js';

const LOOPS = 800;

/** One loop: connect, write a valid OPTIONS, reset at once. Resolves whether the connect succeeded. */
function resetOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      socket.write(tcpOptions(socket.localPort ?? 0));
      socket.resetAndDestroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Runs the loop, checking every 50 loops that the process still lives; returns how many loops ran. */
async function resetLoop(port: number, pid: number): Promise<{ loops: number; refused: number; ms: number }> {
  const started = Date.now();
  let refused = 0;
  let loops = 0;
  for (; loops < LOOPS; loops++) {
    if (!(await resetOnce(port))) refused++;
    if (loops % 50 === 49 && !processAlive(pid)) break;
  }
  return { loops, refused, ms: Date.now() - started };
}

async function answersOptions(sipPort: number): Promise<{ udp: number; tcp: number }> {
  const sip = await RawSipSocket.open();
  try {
    const udp = await sip.request(
      rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: sip.port }),
      sipPort,
    );
    const tcp = await tcpRequest(sipPort, (localPort) => tcpOptions(localPort));
    return { udp: udp.status, tcp: tcp.status };
  } finally {
    sip.close();
  }
}

describe('TCP reset loop against the embedded broker', () => {
  let broker: RunningBroker;
  let httpPort: number;
  beforeAll(async () => {
    httpPort = await freePort('tcp');
    broker = await startEmbedded({ HTTP_PORT: String(httpPort) });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it(`survives ${LOOPS} connect/OPTIONS/reset loops and still answers over UDP and TCP`, async () => {
    const pid = broker.pid!;
    const run = await resetLoop(broker.sipPort, pid);
    const alive = processAlive(pid);
    const faults = alive ? await metricSum(httpPort, 'sip_pubsub_sip_transport_faults_total') : Number.NaN;
    console.log(
      `[tcp-reset embedded] ${run.loops} loops in ${run.ms} ms, ${run.refused} connects refused, ` +
        `process ${pid} alive=${alive}, contained faults=${faults}`,
    );
    expect(alive, broker.logs()).toBe(true);
    expect(run.loops).toBe(LOOPS);
    expect(run.refused).toBe(0);
    expect(await answersOptions(broker.sipPort)).toEqual({ udp: 200, tcp: 200 });
    expect(processAlive(pid)).toBe(true);
  });
});

describe('TCP reset loop against separate processes', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startSeparateProcesses();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it(`survives ${LOOPS} loops: every process keeps its PID and the edge still answers`, async () => {
    const services = broker.services!;
    const edge = services.find((s) => s.name === 'signalling-edge')!;
    const pids = services.map((s) => s.pid);
    const run = await resetLoop(broker.sipPort, edge.pid);
    const alive = services.map((s) => processAlive(s.pid));
    const faults = alive.every(Boolean)
      ? await metricSum(edge.httpPort, 'sip_pubsub_sip_transport_faults_total')
      : Number.NaN;
    console.log(
      `[tcp-reset separate] ${run.loops} loops in ${run.ms} ms, ${run.refused} connects refused, ` +
        `alive ${services.map((s, i) => `${s.instanceId}(${s.pid})=${alive[i]}`).join(' ')}, ` +
        `contained faults=${faults}`,
    );
    expect(alive.every(Boolean), broker.logs()).toBe(true);
    expect(run.loops).toBe(LOOPS);
    expect(run.refused).toBe(0);
    expect(await answersOptions(broker.sipPort)).toEqual({ udp: 200, tcp: 200 });
    // The same processes (no exit, no restart) as before the loop.
    expect(pids.filter((p) => processAlive(p))).toEqual(pids);
  });
});
