// RFC 3515 §2.4.6 / RFC 6665 §4.5.2 on the wire (embedded, and split over nats-server; raw SIP): a REFER sent inside the
// dialog of an earlier REFER's implicit subscription is a further `refer` subscription in that dialog,
// with `Event: refer;id=<its CSeq>`, its NOTIFYs in the same dialog and CSeq space. Once the dialog's
// last subscription has ended the dialog is gone and a REFER in it gets 481.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/broker-probes.js';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { rawRequest, token } from '../support/raw-sip.js';
import { createTopicAs, DialledParty, Referrer } from '../support/refer-peers.js';

const setups: [string, () => Promise<RunningBroker>][] = [
  ['embedded', () => startEmbedded({ SIP_T1_MS: '100' })],
  ['separate processes', () => startSeparateProcesses({ env: { SIP_T1_MS: '100' } })],
];

describe.each(setups)('REFER inside the dialog of an earlier REFER (%s)', (_name, start) => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await start();
  }, 90_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('is a second refer subscription in that dialog; after both end the dialog is gone (481)', async () => {
    const sipPort = broker.sipPort;
    const conf = await createTopicAs(sipPort, `refer-in-dialog/${token(4)}`, 'chair');
    const chair = await Referrer.open('chair');
    const slow = await DialledParty.open({ hold: true });
    const quick = await DialledParty.open({ answer: 'recvonly' });
    try {
      const first = await chair.refer(sipPort, conf, `<${slow.uri}>`);
      expect(first.status).toBe(202);
      const ourTag = /;tag=([^;\s]+)/.exec(first.headers.get('to')?.[0] ?? '')![1];
      // The first dial-out rings: its subscription, and so the dialog, lives.
      await until(() => slow.invites.length === 1, 10_000, broker.logs);
      const inDialog = (cseq: number, referTo: string) =>
        chair.sip.request(
          rawRequest({
            method: 'REFER',
            uri: conf,
            localPort: chair.sip.port,
            user: 'chair',
            callId: first.callId,
            fromTag: first.fromTag,
            toTag: ourTag,
            cseq,
            headers: [`Refer-To: ${referTo}`],
          }),
          sipPort,
          8_000,
        );
      const second = await inDialog(2, `<${quick.uri}>`);
      expect(second.status).toBe(202);
      expect(second.headers.get('to')?.[0]).toContain(`tag=${ourTag}`);

      const finalOf = (id: number) =>
        chair.notifies.find(
          (n) => n.event === `refer;id=${id}` && n.subscriptionState.startsWith('terminated'),
        );
      const secondFinal = await until(() => finalOf(2), 15_000, broker.logs);
      expect(secondFinal.body).toMatch(/^SIP\/2\.0 200 OK/);
      expect(quick.acks.length).toBeGreaterThanOrEqual(1);
      // The first subscription still lives in the dialog (its party still rings).
      expect(finalOf(1)).toBeUndefined();
      slow.answerHeld();
      const firstFinal = await until(() => finalOf(1), 15_000, broker.logs);
      expect(firstFinal.body).toMatch(/^SIP\/2\.0 200 OK/);

      // Every NOTIFY of both subscriptions in the one dialog, each with a CSeq of its own.
      const inTheDialog = chair.notifies.filter((n) => n.callId === first.callId);
      expect(inTheDialog.map((n) => n.event).sort()).toEqual([
        'refer;id=1',
        'refer;id=1',
        'refer;id=2',
        'refer;id=2',
      ]);
      for (const n of inTheDialog) {
        expect(n.fromTag).toBe(ourTag);
        expect(n.toTag).toBe(first.fromTag);
      }
      expect(new Set(inTheDialog.map((n) => n.cseq)).size).toBe(inTheDialog.length);
      for (const id of [1, 2]) {
        const own = inTheDialog.filter((n) => n.event === `refer;id=${id}`);
        expect(own[0].body).toMatch(/^SIP\/2\.0 100 Trying/);
        expect(own[1].cseq).toBeGreaterThan(own[0].cseq);
      }

      // Both subscriptions ended, so did the dialog (RFC 6665 §4.5.2).
      const late = await inDialog(3, `<${quick.uri}>`);
      expect(late.status).toBe(481);
    } finally {
      chair.close();
      slow.close();
      quick.close();
    }
  }, 60_000);
});
