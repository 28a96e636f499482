// SIPp (an implementation that shares nothing with ours) against call control: Replaces (RFC 3891) where
// the replaced dialog must receive the focus's BYE and the new one's answer keeps the old role, and
// FACTORY_MODE=join (RFC 4579 §5.5 style: 200 from the factory, Contact = conference URI;isfocus).
// Each run asserts SIPp's exit code and counts; what the broker must send is a `check_it` regexp inside
// the scenario; the roster afterwards must hold none of SIPp's endpoints.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { token } from '../support/raw-sip.js';
import { ConferenceWatcher, createTopicAs } from '../support/refer-peers.js';
import { callCounts, describeRun, runSipp, type SippResult } from './sipp/sipp.js';

const ENV = { FACTORY_MODE: 'join', SIP_RATE_PER_SOURCE: 'off' };

function ok(run: SippResult, calls: number): void {
  expect(run.exitCode, describeRun(run)).toBe(0);
  expect(callCounts(run)).toMatchObject({ created: calls, successful: calls, failed: 0 });
}

/** The endpoint entities in a fresh full-state roster of `conf`. */
async function rosterUsers(sipPort: number, conf: string): Promise<string[]> {
  const w = await ConferenceWatcher.subscribe(sipPort, conf, `probe-${token(3)}`);
  try {
    const deadline = Date.now() + 10_000;
    while (w.notifies.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    return w
      .users()
      .filter((u) => u.state !== 'deleted')
      .map((u) => u.entity);
  } finally {
    w.close();
  }
}

function scenario(name: string, start: () => Promise<RunningBroker>) {
  describe(`SIPp call control (${name})`, () => {
    let broker: RunningBroker;
    beforeAll(async () => {
      broker = await start();
    }, 90_000);
    afterAll(async () => {
      await broker?.stop();
    });

    it('Replaces: 10 callers each replace their own dialog; the old one gets BYE, the role is kept', async () => {
      const conf = await createTopicAs(broker.sipPort, `sipp-replaces/${token(3)}`, 'chair');
      const run = await runSipp({
        scenario: 'replaces.xml',
        sipPort: broker.sipPort,
        calls: 10,
        rate: 10,
        limit: 5,
        keys: { conf },
        timeoutS: 60,
        recvTimeoutMs: 10_000,
      });
      ok(run, 10);
      expect((await rosterUsers(broker.sipPort, conf)).filter((u) => u.includes('sipp-'))).toEqual([]);
    }, 90_000);

    it('FACTORY_MODE=join: 20 callers get 200 from the factory with the conference as isfocus Contact', async () => {
      const topic = `sipp-factory-join/${token(3)}`;
      const run = await runSipp({
        scenario: 'factory-join-mode.xml',
        sipPort: broker.sipPort,
        calls: 20,
        rate: 20,
        limit: 10,
        pauseMs: 200,
        injection: Array.from(
          { length: 20 },
          (_, i) => `${topic};${i % 2 ? 'recvonly' : 'sendonly'};${41_000 + 2 * i}`,
        ),
        timeoutS: 60,
        recvTimeoutMs: 10_000,
      });
      ok(run, 20);
      // Each caller left with BYE to the conference URI: none of them is left in the topic's roster.
      const conf = await createTopicAs(broker.sipPort, topic, 'chair');
      expect((await rosterUsers(broker.sipPort, conf)).filter((u) => u.includes('sipp-'))).toEqual([]);
    }, 90_000);
  });
}

scenario('embedded', () => startEmbedded(ENV));
scenario('separate processes', () => startSeparateProcesses({ env: ENV }));
