// Sequential signalling latency, split (four processes + nats-server): one request at a time, each timed
// from its send to its final response (and, for a SUBSCRIBE, to its first NOTIFY). Also the KV
// operations each step costs, from the services' own KV histograms (kv-metrics.ts), at two roster sizes.
// Run: node --import tsx test/bench/signalling-latency.ts [--rounds 200] [--crowd 20]

import { metricSum, textOffer } from '../chaos/raw-peers.js';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';
import { printHeader, printTable } from './machine.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const KV_OPS = 'sip_pubsub_kv_operation_duration_seconds_count';

async function kvOps(broker: RunningBroker): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of broker.services ?? [])
    if (s.name === 'focus-controller' || s.name === 'notifier')
      out[s.name] = (out[s.name] ?? 0) + (await metricSum(s.httpPort, KV_OPS));
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const tagOf = (header: string | undefined) => /;tag=([^;>\s]+)/.exec(header ?? '')?.[1];

interface Round {
  factory: number;
  join: number;
  bye: number;
  subscribe: number;
  notify: number;
}

/** One participant's join and leave and one watcher's SUBSCRIBE/unsubscribe, each step timed. */
async function round(sip: RawSipSocket, port: number, topic: string): Promise<Round> {
  const callId = token(10);
  const fromTag = token();
  const t0 = performance.now();
  const create = rawRequest({
    method: 'INVITE',
    uri: 'sip:factory@localhost',
    localPort: sip.port,
    callId,
    fromTag,
    headers: [`Subject: ${topic}`],
  });
  const redirect = await sip.request(create, port);
  const factory = performance.now() - t0;
  if (redirect.status !== 302) throw new Error(`factory ${redirect.status}`);
  const confUri = /<([^>]+)>/.exec(redirect.headers.get('contact')?.[0] ?? '')?.[1] ?? '';
  sip.send(
    [
      'ACK sip:factory@localhost SIP/2.0',
      /\r\n(Via: [^\r\n]+)/.exec(create)?.[1],
      'Max-Forwards: 70',
      /\r\n(From: [^\r\n]+)/.exec(create)?.[1],
      `To: ${redirect.headers.get('to')?.[0]}`,
      `Call-ID: ${callId}`,
      'CSeq: 1 ACK',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    port,
  );
  const t1 = performance.now();
  const ok = await sip.request(
    rawRequest({
      method: 'INVITE',
      uri: confUri,
      localPort: sip.port,
      callId,
      fromTag,
      cseq: 2,
      headers: ['Content-Type: application/sdp'],
      body: textOffer('recvonly', 9),
    }),
    port,
  );
  const join = performance.now() - t1;
  if (ok.status !== 200) throw new Error(`join ${ok.status} ${ok.reason}`);
  const toTag = tagOf(ok.headers.get('to')?.[0]);
  sip.send(
    rawRequest({ method: 'ACK', uri: confUri, localPort: sip.port, callId, fromTag, toTag, cseq: 2 }),
    port,
  );

  const subCall = token(10);
  const subTag = token();
  const t2 = performance.now();
  const sub = await sip.request(
    rawRequest({
      method: 'SUBSCRIBE',
      uri: confUri,
      localPort: sip.port,
      callId: subCall,
      fromTag: subTag,
      headers: ['Event: conference', 'Expires: 60', 'Accept: application/conference-info+xml'],
    }),
    port,
  );
  const subscribe = performance.now() - t2;
  if (sub.status !== 200) throw new Error(`subscribe ${sub.status} ${sub.reason}`);
  const first = await sip.next((m) => m.startsWith('NOTIFY ') && m.includes(`Call-ID: ${subCall}`));
  const notify = performance.now() - t2;
  const answer = (m: string) => {
    const head = m.split('\r\n\r\n')[0].split('\r\n');
    const keep = head.filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
    sip.send(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n'), port);
  };
  answer(first);
  // Unsubscribe and leave, untimed (the BYE is timed below).
  const subTo = tagOf(sub.headers.get('to')?.[0]);
  const unsub = sip.request(
    rawRequest({
      method: 'SUBSCRIBE',
      uri: confUri,
      localPort: sip.port,
      callId: subCall,
      fromTag: subTag,
      toTag: subTo,
      cseq: 2,
      headers: ['Event: conference', 'Expires: 0'],
    }),
    port,
  );
  await unsub;
  answer(await sip.next((m) => m.startsWith('NOTIFY ') && m.includes(`Call-ID: ${subCall}`)));
  const t3 = performance.now();
  const bye = await sip.request(
    rawRequest({ method: 'BYE', uri: confUri, localPort: sip.port, callId, fromTag, toTag, cseq: 3 }),
    port,
  );
  if (bye.status !== 200) throw new Error(`bye ${bye.status}`);
  return { factory, join, bye: performance.now() - t3, subscribe, notify };
}

/** KV operations of one join and of one SUBSCRIBE (with its first NOTIFY) in a conference of `crowd` members. */
async function kvCosts(broker: RunningBroker, sip: RawSipSocket, crowd: number) {
  const port = broker.sipPort;
  const topic = `kvcost/${token(4)}`;
  const staying: string[] = [];
  const redirect = await sip.request(
    rawRequest({
      method: 'INVITE',
      uri: 'sip:factory@localhost',
      localPort: sip.port,
      headers: [`Subject: ${topic}`],
    }),
    port,
  );
  const confUri = /<([^>]+)>/.exec(redirect.headers.get('contact')?.[0] ?? '')?.[1] ?? '';
  const joinOne = async () => {
    const callId = token(10);
    const ok = await sip.request(
      rawRequest({
        method: 'INVITE',
        uri: confUri,
        localPort: sip.port,
        callId,
        headers: ['Content-Type: application/sdp'],
        body: textOffer('recvonly', 9),
      }),
      port,
    );
    staying.push(callId);
    return ok;
  };
  for (let i = 0; i < crowd; i++) await joinOne();
  await new Promise((r) => setTimeout(r, 300));
  const before = await kvOps(broker);
  await joinOne();
  await new Promise((r) => setTimeout(r, 300));
  const afterJoin = await kvOps(broker);
  const subCall = token(10);
  await sip.request(
    rawRequest({
      method: 'SUBSCRIBE',
      uri: confUri,
      localPort: sip.port,
      callId: subCall,
      headers: ['Event: conference', 'Expires: 60'],
    }),
    port,
  );
  const notify = await sip.next((m) => m.startsWith('NOTIFY ') && m.includes(`Call-ID: ${subCall}`));
  const head = notify
    .split('\r\n\r\n')[0]
    .split('\r\n')
    .filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
  sip.send(['SIP/2.0 200 OK', ...head, 'Content-Length: 0', '', ''].join('\r\n'), port);
  await new Promise((r) => setTimeout(r, 300));
  const afterSub = await kvOps(broker);
  const d = (a: Record<string, number>, b: Record<string, number>, s: string) => (a[s] ?? 0) - (b[s] ?? 0);
  return {
    join: { focus: d(afterJoin, before, 'focus-controller'), notifier: d(afterJoin, before, 'notifier') },
    subscribe: {
      focus: d(afterSub, afterJoin, 'focus-controller'),
      notifier: d(afterSub, afterJoin, 'notifier'),
    },
  };
}

export async function main(): Promise<void> {
  const rounds = Number(flag('rounds', '200'));
  const crowd = Number(flag('crowd', '20'));
  printHeader('signalling latency, split, sequential', `--rounds ${rounds} --crowd ${crowd}`);
  const broker = await startSeparateProcesses({
    env: {
      SIP_RATE_PER_SOURCE: 'off',
      SIP_RATE_PER_SOURCE_IN_DIALOG: 'off',
      SIP_REJECT_RATE_PER_SOURCE: 'off',
      NOTIFY_MIN_INTERVAL_MS: '0',
    },
  });
  const sip = await RawSipSocket.open();
  try {
    const results: Round[] = [];
    for (let i = 0; i < 20; i++) await round(sip, broker.sipPort, `lat/warm-${i % 5}`);
    for (let i = 0; i < rounds; i++) results.push(await round(sip, broker.sipPort, `lat/topic-${i % 10}`));
    const rows = (['factory', 'join', 'bye', 'subscribe', 'notify'] as const).map((k) => {
      const v = results.map((r) => r[k]).sort((a, b) => a - b);
      return [
        {
          factory: 'factory INVITE→302',
          join: 'join INVITE→200',
          bye: 'BYE→200',
          subscribe: 'SUBSCRIBE→200',
          notify: 'SUBSCRIBE→first NOTIFY',
        }[k],
        percentile(v, 50).toFixed(2),
        percentile(v, 90).toFixed(2),
        percentile(v, 99).toFixed(2),
      ];
    });
    printTable([['step', 'p50 ms', 'p90 ms', 'p99 ms'], ...rows]);
    const small = await kvCosts(broker, sip, 1);
    const large = await kvCosts(broker, sip, crowd);
    printTable([
      [
        'KV operations',
        'focus (1 in conf)',
        'notifier (1 in conf)',
        `focus (${crowd} in conf)`,
        `notifier (${crowd} in conf)`,
      ],
      ['join', small.join.focus, small.join.notifier, large.join.focus, large.join.notifier].map(String),
      [
        'SUBSCRIBE + first NOTIFY',
        small.subscribe.focus,
        small.subscribe.notifier,
        large.subscribe.focus,
        large.subscribe.notifier,
      ].map(String),
    ]);
  } finally {
    sip.close();
    await broker.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main().then(() => process.exit(0));
