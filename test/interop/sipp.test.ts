// SIPp (Debian's sip-tester), a SIP implementation that shares nothing with ours, runs the scenarios in
// test/interop/sipp/ against the broker: OPTIONS ping, factory → 302 → join → BYE (per-call topics, one
// shared topic created by concurrent callers, and hundreds of calls at once against separate
// processes), and conference-package SUBSCRIBE/NOTIFY. Each run asserts SIPp's exit code and its
// counts; every expectation about the broker's answers is a `check_it` regexp inside the scenario.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RunningBroker,
  relayPortRange,
  startEmbedded,
  startSeparateProcesses,
} from '../support/brokers.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';
import { callCounts, describeRun, runSipp } from './sipp/sipp.js';

/** Injection lines for factory-join-bye.xml: topic;direction;offered RTP port. */
function participants(count: number, topic: (i: number) => string): string[] {
  return Array.from(
    { length: count },
    (_, i) => `${topic(i)};${i % 2 === 0 ? 'sendonly' : 'recvonly'};${40_000 + 2 * (i % 5_000)}`,
  );
}

/** Creates a topic at the factory with a hand-written INVITE and ACKs the 302; returns the conference URI. */
async function createTopic(sipPort: number, topic: string): Promise<string> {
  const sip = await RawSipSocket.open();
  try {
    const invite = rawRequest({
      method: 'INVITE',
      uri: 'sip:factory@localhost',
      localPort: sip.port,
      headers: [`Subject: ${topic}`],
    });
    const redirect = await sip.request(invite, sipPort);
    expect(redirect.status).toBe(302);
    const confUri = /<(sip:conf-[^>]+)>/.exec(redirect.headers.get('contact')?.[0] ?? '')?.[1];
    if (!confUri) throw new Error(`302 without a conference Contact: ${redirect.raw}`);
    const copy = (name: string) => new RegExp(`\\r\\n(${name}: [^\\r\\n]+)`).exec(invite)![1];
    const branch = /branch=([^;\r\n]+)/.exec(invite)![1];
    sip.send(
      [
        'ACK sip:factory@localhost SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:${sip.port};branch=${branch};rport`,
        'Max-Forwards: 70',
        copy('From'),
        `To: ${redirect.headers.get('to')![0]}`,
        copy('Call-ID'),
        'CSeq: 1 ACK',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      sipPort,
    );
    return confUri;
  } finally {
    sip.close();
  }
}

describe('SIPp against the embedded broker', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    const range = relayPortRange(1_000);
    broker = await startEmbedded({ RELAY_PORT_MIN: String(range.min), RELAY_PORT_MAX: String(range.max) });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('OPTIONS ping: 200 with isfocus, Allow, Allow-Events, a To tag and an m=text description', async () => {
    const run = await runSipp({
      scenario: 'options.xml',
      sipPort: broker.sipPort,
      calls: 50,
      rate: 50,
      timeoutS: 30,
    });
    expect(run.exitCode, describeRun(run)).toBe(0);
    expect(callCounts(run)).toMatchObject({ created: 50, successful: 50, failed: 0 });
  });

  it('factory → 302 → join → BYE, a topic per call, publishers and subscribers', async () => {
    const prefix = `sipp/${token(3)}`;
    const run = await runSipp({
      scenario: 'factory-join-bye.xml',
      sipPort: broker.sipPort,
      calls: 100,
      rate: 50,
      limit: 100,
      pauseMs: 500,
      injection: participants(100, (i) => `${prefix}/${i}`),
      timeoutS: 60,
    });
    expect(run.exitCode, describeRun(run)).toBe(0);
    expect(callCounts(run)).toMatchObject({ created: 100, successful: 100, failed: 0 });
  });

  it('factory → 302 → join → BYE, many callers racing to create one shared topic', async () => {
    const topic = `sipp/${token(3)}/shared`;
    // All calls start within a fraction of a second, so creation of the topic is contended.
    const run = await runSipp({
      scenario: 'factory-join-bye.xml',
      sipPort: broker.sipPort,
      calls: 60,
      rate: 600,
      limit: 60,
      pauseMs: 1_000,
      injection: participants(60, () => topic),
      timeoutS: 60,
    });
    expect(run.exitCode, describeRun(run)).toBe(0);
    expect(callCounts(run)).toMatchObject({ created: 60, successful: 60, failed: 0 });
    // One conference for the topic: the factory redirects a latecomer to the URI everyone else joined.
    const first = await createTopic(broker.sipPort, topic);
    const again = await createTopic(broker.sipPort, topic);
    expect(again).toBe(first);
  });

  it('SUBSCRIBE to the conference package: 200, full-state NOTIFY, unsubscribe, terminated NOTIFY', async () => {
    const confUri = await createTopic(broker.sipPort, `sipp/${token(3)}/watched`);
    const run = await runSipp({
      scenario: 'subscribe.xml',
      sipPort: broker.sipPort,
      calls: 20,
      rate: 20,
      limit: 20,
      keys: { conf: confUri },
      timeoutS: 30,
    });
    expect(run.exitCode, describeRun(run)).toBe(0);
    expect(callCounts(run)).toMatchObject({ created: 20, successful: 20, failed: 0 });
  });

  it('SUBSCRIBE to a conference that does not exist fails the scenario (the checks are real)', async () => {
    const run = await runSipp({
      scenario: 'subscribe.xml',
      sipPort: broker.sipPort,
      calls: 1,
      keys: { conf: `sip:conf-${'a'.repeat(16)}@localhost` },
      timeoutS: 20,
    });
    expect(run.exitCode).not.toBe(0);
    expect(callCounts(run)).toMatchObject({ successful: 0, failed: 1 });
  });
});

describe('SIPp load against separate processes with nats-server', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startSeparateProcesses({ relayPorts: 1_000 });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('600 factory-join-leave calls, up to 300 at once, none failed', { timeout: 240_000 }, async () => {
    const prefix = `sipp/${token(3)}/load`;
    // 20 topics, each with publishers and subscribers joining and leaving; each call stays 5 s so the
    // -l 300 cap is reached.
    const run = await runSipp({
      scenario: 'factory-join-bye.xml',
      sipPort: broker.sipPort,
      calls: 600,
      rate: 60,
      limit: 300,
      pauseMs: 5_000,
      injection: participants(600, (i) => `${prefix}/${i % 20}`),
      timeoutS: 180,
      recvTimeoutMs: 30_000,
    });
    expect(run.exitCode, `${describeRun(run)}\n${broker.logs().slice(-4000)}`).toBe(0);
    expect(callCounts(run)).toMatchObject({ created: 600, successful: 600, failed: 0 });
    expect(run.peakConcurrent).toBeGreaterThanOrEqual(200);
  });
});
