// Wireshark's dissectors (tshark), written by other people from the same RFCs, read a capture of one
// whole session against the embedded broker: OPTIONS, factory INVITE → 302 → ACK, joins with SDP, RTP
// carrying T.140 in RED, SUBSCRIBE/NOTIFY with conference-info, BYE, unsubscribe. Nothing may be
// malformed or draw a warning, and the T.140 text tshark finds in the RED primary blocks must be
// exactly the SenML lines that were published.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { SipPubSubClient } from '@sip-pubsub/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, relayPortRange, startEmbedded } from '../support/brokers.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';

const run = promisify(execFile);
const RED_PT = 100;
const LS = '\u2028';

/** Whether this machine lets us capture on loopback (tshark installed, and permission to capture). */
function captureProblem(): string | undefined {
  // A slow start of tshark on a loaded machine is not a reason to skip: the probe is given a minute, twice.
  let problem = probeCapture();
  if (problem !== undefined) problem = probeCapture();
  return problem;
}

function probeCapture(): string | undefined {
  const probe = spawnSync(
    'tshark',
    [
      '-i',
      'lo',
      '-a',
      'duration:1',
      '-c',
      '1',
      '-q',
      '-w',
      path.join(tmpdir(), `probe-${process.pid}.pcapng`),
    ],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  if (probe.error) return `tshark cannot run: ${probe.error.message}`;
  if (probe.status !== 0)
    return `tshark cannot capture on lo: ${probe.stderr.trim().split('\n').slice(-2).join(' ')}`;
  return undefined;
}

interface Capture {
  file: string;
  stop(): Promise<void>;
}

/** Starts tshark on loopback with a capture filter and waits until it is capturing. */
async function captureLoopback(filter: string, file: string): Promise<Capture> {
  const child: ChildProcess = spawn('tshark', ['-i', 'lo', '-f', filter, '-w', file, '-q'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tshark did not start capturing: ${stderr}`)), 15_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (stderr.includes('Capturing on')) {
        clearTimeout(timer);
        // dumpcap reports before its capture filter is installed; give it a moment so the first packets count.
        setTimeout(resolve, 1_000);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tshark exited with ${code}: ${stderr}`));
    });
  });
  return {
    file,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGINT'); // tshark flushes and closes the file on SIGINT
      await exited;
    },
  };
}

async function eventually(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const problem = captureProblem();

describe.skipIf(problem !== undefined)('a tshark capture of one session', () => {
  let broker: RunningBroker;
  let dir: string;
  const range = relayPortRange(100);
  const decode = ['-d', `udp.port==${range.min}-${range.max},rtp`, '-d', `rtp.pt==${RED_PT},rtp_rfc2198`];
  const tshark = async (file: string, ...args: string[]) =>
    (await run('tshark', ['-r', file, ...decode, ...args], { maxBuffer: 64 << 20 })).stdout;
  const rows = async (file: string, filter: string, fields: string[]) =>
    (
      await tshark(
        file,
        '-Y',
        filter,
        '-T',
        'fields',
        '-E',
        'separator=|',
        '-E',
        'occurrence=a',
        '-E',
        'aggregator=,',
        ...fields.flatMap((f) => ['-e', f]),
      )
    )
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.split('|'));

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tshark-'));
    broker = await startEmbedded({ RELAY_PORT_MIN: String(range.min), RELAY_PORT_MAX: String(range.max) });
  });
  afterAll(async () => {
    await broker?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('decodes SIP, SDP, conference-info, RTP and RED with no malformed packet or warning', async () => {
    const file = path.join(dir, 'session.pcapng');
    const capture = await captureLoopback(
      `udp port ${broker.sipPort} or udp portrange ${range.min}-${range.max}`,
      file,
    );
    const server = `127.0.0.1:${broker.sipPort}`;
    const clients: SipPubSubClient[] = [];
    const client = async (user: string) => {
      const c = await SipPubSubClient.connect({ server, user, requestTimeoutMs: 8_000 });
      clients.push(c);
      return c;
    };
    const topic = `tshark/${token(3)}/temp`;
    const values = [20, 20.5, 21, 21.5, 22];
    let publisherSsrc = 0;
    try {
      const ping = await RawSipSocket.open();
      const options = await ping.request(
        rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: ping.port }),
        broker.sipPort,
      );
      ping.close();
      expect(options.status).toBe(200);

      const watcher = await (await client('watcher')).watch(topic);
      const subscriber = await (await client('sub')).subscriber(topic);
      const received: number[] = [];
      subscriber.on('pack', (pack) => {
        for (const record of pack) if (typeof record.v === 'number') received.push(record.v);
      });
      const publisher = await (await client('pub')).publisher(topic);
      publisherSsrc = publisher.ssrc;
      for (const v of values) {
        await publisher.publish([{ n: 'temp', u: 'Cel', v }]);
        await new Promise((r) => setTimeout(r, 30));
      }
      await eventually('every publication at the subscriber', () => received.length >= values.length);
      // Let the redundancy drain (RFC 4103 §4: the last text is repeated in the following packets).
      await new Promise((r) => setTimeout(r, 500));
      await publisher.close();
      await subscriber.close();
      await new Promise((r) => setTimeout(r, 300));
      await watcher.close();
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await capture.stop();
    }

    // 1. Nothing malformed, no expert info at warning level or above.
    const bad = await tshark(file, '-Y', '_ws.malformed || _ws.expert.severity >= warning');
    expect(bad.trim(), `frames tshark flags:\n${bad}`).toBe('');

    // 2. SIP requests and responses decoded, with SDP and conference-info bodies.
    const sip = await rows(file, 'sip', ['sip.Method', 'sip.Status-Code', 'sip.r-uri', 'sip.CSeq.method']);
    const requests = sip
      .filter((r) => r[0] !== '')
      .map((r) => `${r[0]} ${r[2].replace(/conf-[a-z2-7]+/, 'conf')}`);
    const responses = sip.filter((r) => r[1] !== '').map((r) => `${r[1]} ${r[3]}`);
    for (const expected of [
      'OPTIONS sip:factory@localhost',
      'INVITE sip:factory@localhost',
      'ACK sip:factory@localhost',
      'INVITE sip:conf@localhost',
      'ACK sip:conf@localhost',
      'SUBSCRIBE sip:conf@localhost',
      'BYE sip:conf@localhost',
    ])
      expect(requests).toContain(expected);
    expect(requests.some((r) => r.startsWith('NOTIFY '))).toBe(true);
    for (const expected of [
      '200 OPTIONS',
      '302 INVITE',
      '200 INVITE',
      '200 SUBSCRIBE',
      '200 NOTIFY',
      '200 BYE',
    ])
      expect(responses).toContain(expected);
    const textMedia = await rows(file, 'sdp.media.media == "text"', [
      'sip.Method',
      'sip.Status-Code',
      'sdp.media.format',
    ]);
    expect(textMedia.length).toBeGreaterThanOrEqual(4); // two offers, two answers
    const conferenceInfo = await rows(file, 'sip.Method == "NOTIFY" && xml.tag contains "conference-info"', [
      'sip.Event',
    ]);
    expect(conferenceInfo.length).toBeGreaterThanOrEqual(2);
    expect(conferenceInfo.every((r) => r[0] === 'conference')).toBe(true);

    // 3. RTP with RED: block headers dissected, some blocks carrying redundancy.
    const red = await rows(file, `rtp.p_type == ${RED_PT} && rtp.follow`, ['rtp.ssrc']);
    expect(red.length).toBeGreaterThanOrEqual(values.length * 2);
    const redundant = await rows(file, 'rtp.block-length > 0', ['frame.number']);
    expect(redundant.length).toBeGreaterThan(0);

    // 4. The primary blocks tshark cut out, per leg and in sequence order, spell the published lines.
    const ssrc = `0x${publisherSsrc.toString(16).padStart(8, '0')}`;
    const packets = await rows(file, `rtp.ssrc == ${ssrc}`, ['udp.dstport', 'rtp.seq', 'rtp.payload']);
    const legs = new Map<string, Map<number, string>>();
    for (const [port, seq, payloads] of packets) {
      // rtp.payload occurs as the whole RTP payload, then once per RED block, the primary last; tshark
      // writes <MISSING> for an empty block.
      const last = payloads.split(',').pop() ?? '';
      const primary = /^[0-9a-f]*$/.test(last) ? last : '';
      if (!legs.has(port)) legs.set(port, new Map());
      legs.get(port)!.set(Number(seq), primary);
    }
    expect(legs.size).toBe(2); // publisher → relay, relay → subscriber
    for (const [port, bySeq] of legs) {
      const hex = [...bySeq.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([, h]) => h)
        .join('');
      const text = Buffer.from(hex, 'hex')
        .toString('utf8')
        .replace(/^\uFEFF/, '');
      const lines = text.split(LS).filter((l) => l !== '');
      expect(
        lines.map((l) => JSON.parse(l)[0].v),
        `leg to port ${port}`,
      ).toEqual(values);
    }
  });

  it('the same filter does flag a malformed RED packet (the check above is not vacuous)', async () => {
    const file = path.join(dir, 'control.pcapng');
    const capture = await captureLoopback(`udp portrange ${range.min}-${range.max}`, file);
    const dgram = await import('node:dgram');
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    try {
      const header = Buffer.from([0x80, RED_PT, 0, 1, 0, 0, 3, 0xe8, 0, 0, 0x12, 0x34]);
      // One redundant block announced as 200 bytes long, but only three bytes follow.
      const redHeaders = Buffer.from([0x80 | 98, 0, 0, 200, 98]);
      await new Promise<void>((r) =>
        socket.send(Buffer.concat([header, redHeaders, Buffer.from('abc')]), range.max, '127.0.0.1', () =>
          r(),
        ),
      );
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      socket.close();
      await capture.stop();
    }
    const bad = await tshark(
      file,
      '-Y',
      '_ws.malformed || _ws.expert.severity >= warning',
      '-T',
      'fields',
      '-e',
      'frame.number',
    );
    expect(bad.trim().split('\n')).toEqual(['1']);
  });
});

// Only where capture is impossible: one skipped test whose name says why.
if (problem !== undefined) {
  describe('a tshark capture of one session', () => {
    it.skip(`cannot run here: ${problem}`, () => undefined);
  });
}
