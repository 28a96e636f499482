// A dial-out is never lost silently (issue 8): the focus replica that accepted a REFER is killed (-9)
// between its 202 and the dialled party's 200. Two focus replicas over nats-server: the survivor takes
// the conference over, finds the referral in KV and reports it to the referrer in the final sipfrag;
// the party's answer, which reached an edge whose caller is gone, is ACKed and ended with BYE, and the
// relay leg the dead replica allocated is released. Either way nothing is left behind.
// Second case: the party answers while the replica is frozen (SIGSTOP) and is then killed, so the 2xx
// reaches the edge while the dead replica's connection still looks alive and is handed to a call nobody
// reads. The edge holds such a 2xx for its focus's ACK (owner_acks) and, without it, ACKs and BYEs.
import { rendezvousOwner } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayLegs, until } from '../support/broker-probes.js';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { token } from '../support/raw-sip.js';
import { createTopicAs, DialledParty, Referrer } from '../support/refer-peers.js';

describe('REFER dial-out survives the death of its focus replica (separate processes)', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startSeparateProcesses({ replicas: 2, env: { SIP_T1_MS: '100' } });
  }, 90_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('kill -9 between the 202 and the 200: the referrer hears the outcome, the party is not left up', async () => {
    const sipPort = broker.sipPorts![0];
    const relay = broker.services!.find((s) => s.name === 'media-relay')!;
    const conf = await createTopicAs(sipPort, `refer-kill/${token(4)}`, 'chair');
    const conferenceId = /conf-([^@]+)@/.exec(conf)![1];
    const focusIds = broker.services!.filter((s) => s.name === 'focus-controller').map((s) => s.instanceId);
    const owner = rendezvousOwner(conferenceId, focusIds)!;

    const chair = await Referrer.open('chair');
    const party = await DialledParty.open({ hold: true });
    try {
      const legsBefore = await relayLegs(relay.httpPort);
      const referred = await chair.refer(sipPort, conf, `<${party.uri}>`);
      expect(referred.status).toBe(202);
      // The INVITE is ringing at the party, its leg allocated: now the replica doing it dies.
      await until(() => party.invites.length === 1, 10_000, broker.logs);
      await until(async () => (await relayLegs(relay.httpPort)) === legsBefore + 1, 10_000, broker.logs);
      await broker.kill!(owner);
      // Here the edge has read the dead replica's connection reset before the 2xx comes (the call is
      // cancelled: ACK and BYE at once); the case below has the 2xx arrive first (held for the owner's ACK).
      await new Promise((r) => setTimeout(r, 300));
      party.answerHeld();

      const final = await until(
        () =>
          chair.notifies.find(
            (n) => n.callId === referred.callId && n.subscriptionState.startsWith('terminated'),
          ),
        30_000,
        broker.logs,
      );
      expect(final.subscriptionState).toBe('terminated;reason=noresource');
      const status = Number(/^SIP\/2\.0 (\d{3}) /.exec(final.body)?.[1]);
      if (status === 200) {
        // Completed: the party is a participant (ACKed, no BYE).
        expect(party.acks.length).toBeGreaterThanOrEqual(1);
        expect(party.byes).toHaveLength(0);
      } else {
        // Reported failed: the answered dialog was ended and the leg given back.
        expect(status).toBeGreaterThanOrEqual(400);
        await until(() => party.byes.length === 1, 15_000, broker.logs);
        await until(async () => (await relayLegs(relay.httpPort)) === legsBefore, 15_000, broker.logs);
      }
      // Whatever the dead replica sent before (the 100 Trying, if it got that far) came in the same
      // subscription dialog with a lower CSeq: the survivor continues its CSeq space from KV.
      for (const n of chair.notifies.filter((m) => m.callId === referred.callId && m !== final)) {
        expect(n.body.startsWith('SIP/2.0 100 Trying')).toBe(true);
        expect(final.cseq).toBeGreaterThan(n.cseq);
      }
      expect(final.fromTag).toBe(/;tag=([^;\s]+)/.exec(referred.headers.get('to')?.[0] ?? '')?.[1]);
    } finally {
      chair.close();
      party.close();
    }
  }, 90_000);
});

/** Dial-out INVITEs answered 200 as the edges counted them (sip_pubsub_sip_outgoing_requests_total). */
async function invite200s(edgeHttpPorts: number[]): Promise<number> {
  let sum = 0;
  for (const port of edgeHttpPorts) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const m =
      /^sip_pubsub_sip_outgoing_requests_total\{[^}]*method="INVITE"[^}]*status="200"[^}]*\} (\d+)/m.exec(
        text,
      );
    sum += m ? Number(m[1]) : 0;
  }
  return sum;
}

describe('a dial-out 2xx that reaches the edge after its focus replica died is not lost (separate processes)', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startSeparateProcesses({ replicas: 2, env: { SIP_T1_MS: '100' } });
  }, 90_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('the party answers at once while the replica is stopped and then killed: BYE with a Reason, final sipfrag 503', async () => {
    const sipPort = broker.sipPorts![0];
    const relay = broker.services!.find((s) => s.name === 'media-relay')!;
    const edgePorts = broker.services!.filter((s) => s.name === 'signalling-edge').map((s) => s.httpPort);
    const conf = await createTopicAs(sipPort, `refer-kill-2xx/${token(4)}`, 'chair');
    const conferenceId = /conf-([^@]+)@/.exec(conf)![1];
    const focus = broker.services!.filter((s) => s.name === 'focus-controller');
    const owner = rendezvousOwner(
      conferenceId,
      focus.map((s) => s.instanceId),
    )!;
    const ownerPid = focus.find((s) => s.instanceId === owner)!.pid;

    const chair = await Referrer.open('chair');
    const party = await DialledParty.open({ hold: true });
    try {
      const legsBefore = await relayLegs(relay.httpPort);
      const referred = await chair.refer(sipPort, conf, `<${party.uri}>`);
      expect(referred.status).toBe(202);
      await until(() => party.invites.length === 1, 10_000, broker.logs);
      await until(async () => (await relayLegs(relay.httpPort)) === legsBefore + 1, 10_000, broker.logs);
      const answeredBefore = await invite200s(edgePorts);
      // Frozen, its connections stay open: the edge hands the 2xx to its call as if it were alive.
      process.kill(ownerPid, 'SIGSTOP');
      try {
        party.answerHeld();
        await until(async () => (await invite200s(edgePorts)) > answeredBefore, 10_000, broker.logs);
      } finally {
        await broker.kill!(owner);
      }

      // The edge got no ACK from the dead replica: it ACKs and ends the dialog itself, with a Reason.
      const bye = await until(() => party.byes[0], 30_000, broker.logs);
      expect(bye).toMatch(/\r\nReason: *SIP ;cause=408 ;text="[^"\r]+"/i);
      expect(party.acks.length).toBeGreaterThanOrEqual(1);
      const byeCallId = /\r\nCall-ID: *([^\r]+)/i.exec(bye)?.[1];
      expect(byeCallId).toBe(/\r\nCall-ID: *([^\r]+)/i.exec(party.invites[0])?.[1]);

      // The survivor reports the referral: the party was never stored, so 503, and the leg goes back.
      const final = await until(
        () =>
          chair.notifies.find(
            (n) => n.callId === referred.callId && n.subscriptionState.startsWith('terminated'),
          ),
        30_000,
        broker.logs,
      );
      expect(final.subscriptionState).toBe('terminated;reason=noresource');
      expect(final.body).toMatch(/^SIP\/2\.0 503 Focus Replica Lost\r?\n?$/);
      await until(async () => (await relayLegs(relay.httpPort)) === legsBefore, 15_000, broker.logs);
    } finally {
      chair.close();
      party.close();
    }
  }, 90_000);
});
