// Edge capacity: how many routed requests per second the edge answers when nothing limits it, the figure
// the per-source rate limit's default is derived from (README, SIP_RATE_PER_SOURCE). A closed loop of
// factory INVITEs over UDP (edge → focus by gRPC → topic lookup → 302, then our ACK), `--concurrency`
// outstanding at a time, from one source with the limiter off; embedded and separate processes.
// Run: npm run bench -- edge-capacity [--seconds 10] [--concurrency 50]
import * as dgram from 'node:dgram';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { token } from '../support/raw-sip.js';
import { printHeader, printTable } from './machine.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** A lean closed-loop client: responses matched by Call-ID in a map (RawSipSocket's inbox scan would be the bottleneck). */
async function measure(broker: RunningBroker, seconds: number, concurrency: number): Promise<number[]> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  const waiting = new Map<string, (text: string) => void>();
  socket.on('message', (m) => {
    const text = m.toString('latin1');
    if (/^SIP\/2\.0 1\d\d /.test(text)) return;
    const callId = /\r\nCall-ID: *([^\r\n]+)/.exec(text)?.[1] ?? '';
    waiting.get(callId)?.(text);
    waiting.delete(callId);
  });
  let done = 0;
  let failed = 0;
  const deadline = Date.now() + seconds * 1000;
  const worker = async (w: number) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const callId = `cap-${w}-${i}-${token(4)}`;
      const branch = `z9hG4bK${token(6)}`;
      const head = (method: string) =>
        [
          `${method} sip:factory@localhost SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch};rport`,
          'Max-Forwards: 70',
          `From: <sip:cap@127.0.0.1>;tag=${callId}`,
        ].join('\r\n');
      const reply = new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(callId);
          resolve(undefined);
        }, 5_000);
        waiting.set(callId, (text) => {
          clearTimeout(timer);
          resolve(text);
        });
      });
      socket.send(
        `${head('INVITE')}\r\nTo: <sip:factory@localhost>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\n` +
          `Contact: <sip:cap@127.0.0.1:${port}>\r\nSubject: capacity/topic-${(w * 7 + i) % 50}\r\nContent-Length: 0\r\n\r\n`,
        broker.sipPort,
        '127.0.0.1',
      );
      const text = await reply;
      if (!text?.startsWith('SIP/2.0 302')) {
        failed++;
        continue;
      }
      done++;
      // ACK the 302 (same branch, §17.1.1.3), so the edge stops retransmitting it.
      const to = /\r\nTo: *([^\r\n]+)/.exec(text)?.[1];
      socket.send(
        `${head('ACK')}\r\nTo: ${to}\r\nCall-ID: ${callId}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n`,
        broker.sipPort,
        '127.0.0.1',
      );
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const elapsed = (Date.now() - started) / 1000;
  socket.close();
  return [Math.round(done / elapsed), failed];
}

export async function main(): Promise<void> {
  const seconds = Number(flag('seconds', '10'));
  const concurrency = Number(flag('concurrency', '50'));
  printHeader(
    'edge capacity: routed factory INVITEs per second',
    `edge-capacity --seconds ${seconds} --concurrency ${concurrency}`,
  );
  const rows: (string | number)[][] = [['broker', '302/s', 'failed']];
  const env = { SIP_RATE_PER_SOURCE: 'off', LOG_LEVEL: 'error' };
  for (const [label, start] of [
    ['embedded', () => startEmbedded(env)],
    ['separate processes', () => startSeparateProcesses({ env })],
  ] as const) {
    const broker = await start();
    try {
      rows.push([label, ...(await measure(broker, seconds, concurrency))]);
    } finally {
      await broker.stop();
    }
  }
  printTable(rows);
}
