// SIPp as a strict peer for RFC 3261 §8.2.6.2: the focus's and the notifier's out-of-dialog refusals
// (404, 489, 423) carry a To tag, checked by `check_it` regexps in test/interop/sipp/out-of-dialog-refusals.xml,
// against the embedded broker and the four separate processes with nats-server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { callCounts, describeRun, runSipp } from './sipp/sipp.js';

for (const [name, start] of [
  ['embedded', () => startEmbedded()],
  ['split', () => startSeparateProcesses()],
] as const) {
  describe(`SIPp out-of-dialog refusals (${name})`, () => {
    let broker: RunningBroker;
    beforeAll(async () => {
      broker = await start();
    }, 120_000);
    afterAll(async () => {
      await broker?.stop();
    });

    it('404, 489 and 423 each carry a To tag', async () => {
      const run = await runSipp({
        scenario: 'out-of-dialog-refusals.xml',
        sipPort: broker.sipPort,
        calls: 20,
        rate: 20,
        timeoutS: 30,
      });
      expect(run.exitCode, describeRun(run)).toBe(0);
      expect(callCounts(run)).toMatchObject({ created: 20, successful: 20, failed: 0 });
    });
  });
}
