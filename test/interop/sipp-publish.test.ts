// SIPp runs the PUBLISH lifecycle of RFC 3903 (test/interop/sipp/publish.xml) against the broker: initial,
// refresh, the replaced tag refused with 412, modify, remove, the removed tag refused with 412. Every
// expectation about the answers is a check_it regexp or an expected status inside the scenario; here
// SIPp's exit code and counts are asserted, on the embedded broker and on separate processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { createTopic, PACKS } from '../support/raw-events.js';
import { token } from '../support/raw-sip.js';
import { callCounts, describeRun, runSipp } from './sipp/sipp.js';

for (const [name, start] of [
  ['the embedded broker', () => startEmbedded()],
  ['separate processes with nats-server', () => startSeparateProcesses()],
] as const) {
  describe(`SIPp PUBLISH lifecycle against ${name}`, () => {
    let broker: RunningBroker;
    beforeAll(async () => {
      broker = await start();
    }, 60_000);
    afterAll(async () => {
      await broker?.stop();
    });

    it('initial, refresh, 412 for the replaced tag, modify, remove, 412 for the removed tag', async () => {
      const conf = await createTopic(broker.sipPort, `sipp/${token(3)}/published`);
      const run = await runSipp({
        scenario: 'publish.xml',
        sipPort: broker.sipPort,
        calls: 40,
        rate: 40,
        limit: 40,
        keys: { conf, ...PACKS },
        timeoutS: 60,
        recvTimeoutMs: 10_000,
      });
      expect(run.exitCode, `${describeRun(run)}\n${broker.logs().slice(-3000)}`).toBe(0);
      expect(callCounts(run)).toMatchObject({ created: 40, successful: 40, failed: 0 });
    }, 90_000);

    it('fails the scenario against a conference that does not exist (the checks are real)', async () => {
      const run = await runSipp({
        scenario: 'publish.xml',
        sipPort: broker.sipPort,
        calls: 1,
        keys: { conf: `sip:conf-${'a'.repeat(16)}@localhost`, ...PACKS },
        timeoutS: 20,
        recvTimeoutMs: 5_000,
      });
      expect(run.exitCode).not.toBe(0);
      expect(callCounts(run)).toMatchObject({ successful: 0, failed: 1 });
    }, 60_000);
  });
}
