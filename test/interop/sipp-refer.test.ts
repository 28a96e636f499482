// SIPp against REFER to a conference (RFC 4579 §5.6 dial-out, §5.11 removal, RFC 3515, RFC 4488): SIPp
// plays the dialled third party as a UAS (answers 200, answers 486, or rings and never answers) and the
// referrer, which checks the sipfrag NOTIFYs of its implicit subscription. Each run asserts SIPp's exit
// code and counts; what the broker must send is a `check_it` regexp inside the scenarios.
import { freePort } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { token } from '../support/raw-sip.js';
import { createTopicAs } from '../support/refer-peers.js';
import { callCounts, describeRun, runSipp, type SippResult } from './sipp/sipp.js';

function ok(run: SippResult, calls = 1): void {
  expect(run.exitCode, describeRun(run)).toBe(0);
  expect(callCounts(run)).toMatchObject({ created: calls, successful: calls, failed: 0 });
}

function scenario(name: string, start: () => Promise<RunningBroker>) {
  describe(`SIPp REFER to a conference (${name})`, () => {
    let broker: RunningBroker;
    let conf: string;
    beforeAll(async () => {
      broker = await start();
      conf = await createTopicAs(broker.sipPort, `sipp-refer/${token(3)}`, 'chair');
    }, 90_000);
    afterAll(async () => {
      await broker?.stop();
    });

    const dialled = async (scenarioFile: string, keys: Record<string, string> = {}, pauseMs?: number) => {
      const port = await freePort('udp');
      const run = runSipp({
        scenario: scenarioFile,
        sipPort: broker.sipPort,
        calls: 1,
        localPort: port,
        keys,
        timeoutS: 40,
        recvTimeoutMs: 30_000,
        ...(pauseMs !== undefined ? { pauseMs } : {}),
      });
      return { uri: `sip:dialled@127.0.0.1:${port}`, run };
    };
    const refer = (scenarioFile: string, keys: Record<string, string>, pauseMs?: number) =>
      runSipp({
        scenario: scenarioFile,
        sipPort: broker.sipPort,
        calls: 1,
        keys: { conf, user: 'chair', ...keys },
        timeoutS: 40,
        recvTimeoutMs: 30_000,
        ...(pauseMs !== undefined ? { pauseMs } : {}),
      });

    it('dial-out answered, a stranger refused (403), then removed by the creator (BYE, sipfrag 200)', async () => {
      const party = await dialled('refer-dialled.xml', { dir: 'recvonly' });
      ok(await refer('refer-referrer.xml', { target: `<${party.uri}>` }));
      ok(
        await refer('refer-refused.xml', {
          target: `<${party.uri};method=BYE>`,
          user: 'stranger',
        }),
      );
      ok(await refer('refer-referrer.xml', { target: `<${party.uri};method=BYE>` }));
      ok(await party.run);
    }, 90_000);

    it('dial-out refused with 486: the sipfrag reports it', async () => {
      const party = await dialled('refer-dialled-busy.xml');
      ok(await refer('refer-referrer-fails.xml', { target: `<${party.uri}>` }));
      ok(await party.run);
    }, 90_000);

    it('dial-out that rings and is never answered: CANCELled after DIAL_OUT_TIMEOUT_MS, reported failed', async () => {
      const party = await dialled('refer-dialled-noanswer.xml');
      ok(await refer('refer-referrer-fails.xml', { target: `<${party.uri}>` }));
      ok(await party.run);
    }, 90_000);

    it('Refer-Sub: false: 202 with Refer-Sub: false and no NOTIFY; the party is dialled and hangs up', async () => {
      const party = await dialled('refer-dialled-hangup.xml', { dir: 'sendonly' }, 500);
      ok(await refer('refer-nosub.xml', { target: `<${party.uri}>` }, 1_500));
      ok(await party.run);
    }, 90_000);

    it('removal of someone who is not a participant: sipfrag 404', async () => {
      ok(await refer('refer-referrer-fails.xml', { target: '<sip:nobody@127.0.0.1;method=BYE>' }));
    }, 60_000);

    it('the scenarios check for real: a referrer that is not the creator fails refer-referrer.xml', async () => {
      const run = await refer('refer-referrer.xml', {
        target: '<sip:nobody@127.0.0.1;method=BYE>',
        user: 'stranger',
      });
      expect(run.exitCode).not.toBe(0);
      expect(callCounts(run)).toMatchObject({ successful: 0, failed: 1 });
    }, 60_000);
  });
}

const ENV = { DIAL_OUT_TIMEOUT_MS: '1000' };
scenario('embedded', () => startEmbedded(ENV));
scenario('separate processes', () => startSeparateProcesses({ env: ENV }));
