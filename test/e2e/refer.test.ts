// REFER to a conference URI on the wire (RFC 4579 §5.6 dial-out, §5.11 removal; RFC 3515 implicit
// subscription; RFC 4488 Refer-Sub), against the embedded broker and the four separate processes with
// nats-server. Raw peers play the referrer (it answers and keeps the sipfrag NOTIFYs), the dialled party
// (answers 200, 486, or never) and a conference watcher (the roster).
import { freePort } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayLegs, until } from '../support/broker-probes.js';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { token } from '../support/raw-sip.js';
import { ConferenceWatcher, createTopicAs, DialledParty, Referrer } from '../support/refer-peers.js';

const T1_MS = 100;
const ENV = { SIP_T1_MS: String(T1_MS), DIAL_OUT_TIMEOUT_MS: '1500', ADMIN_IDENTITIES: 'sip:ops@127.0.0.1' };

const finalOf = (r: Referrer, callId: string) =>
  r.notifies.find((n) => n.callId === callId && n.subscriptionState.startsWith('terminated'));

function scenario(name: string, start: () => Promise<{ broker: RunningBroker; metricsPort: number }>) {
  describe(`REFER to a conference (${name})`, () => {
    let broker: RunningBroker;
    let metricsPort: number;
    let chair: Referrer;
    let conf: string;
    let watcher: ConferenceWatcher;
    const opened: { close(): void }[] = [];
    beforeAll(async () => {
      ({ broker, metricsPort } = await start());
      chair = await Referrer.open('chair');
      opened.push(chair);
      conf = await createTopicAs(broker.sipPort, `refer/${token(4)}`, 'chair');
      watcher = await ConferenceWatcher.subscribe(broker.sipPort, conf, 'roster-watcher');
      opened.push(watcher);
      expect(watcher.status).toBe(200);
    }, 90_000);
    afterAll(async () => {
      for (const o of opened) o.close();
      await broker?.stop();
    });

    it('dial-out: 202, the party gets an isfocus sendrecv INVITE and is ACKed, NOTIFYs 100 then 200, roster', async () => {
      const party = await DialledParty.open({ answer: 'recvonly' });
      opened.push(party);
      const legsBefore = await relayLegs(metricsPort);
      const referred = await chair.refer(broker.sipPort, conf, `<${party.uri}>`);
      expect(referred.status).toBe(202);
      expect(referred.headers.get('refer-sub')).toBeUndefined();
      const toTag = /;tag=([^;\s]+)/.exec(referred.headers.get('to')?.[0] ?? '')?.[1];
      expect(toTag).toBeTruthy();

      await until(() => party.acks.length === 1, 10_000, broker.logs);
      const invite = party.invites[0];
      expect(invite).toMatch(new RegExp(`^INVITE ${party.uri.replace(/\./g, '\\.')} SIP/2\\.0`));
      expect(invite).toContain(`Contact: <${conf}>;isfocus`);
      expect(invite).toMatch(/\r\nFrom: <sip:conf-[^>]+>;tag=/);
      expect(invite).toMatch(/\r\nm=text \d+ RTP\/AVP/);
      expect(invite).toContain('a=sendrecv');

      const notifies = await until(
        () =>
          finalOf(chair, referred.callId)
            ? chair.notifies.filter((n) => n.callId === referred.callId)
            : undefined,
        10_000,
        broker.logs,
      );
      expect(notifies.map((n) => n.body.trim())).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 200 OK']);
      expect(notifies[0].subscriptionState).toMatch(/^active;expires=\d+$/);
      expect(notifies[1].subscriptionState).toBe('terminated;reason=noresource');
      for (const n of notifies) {
        expect(n.event).toBe('refer;id=1');
        expect(n.contentType).toMatch(/^message\/sipfrag/);
        // In the dialog the 202 made: its To tag is our From tag, the REFER's From tag our To tag.
        expect(n.fromTag).toBe(toTag);
        expect(n.toTag).toBe(referred.fromTag);
      }
      expect(notifies[1].cseq).toBeGreaterThan(notifies[0].cseq);

      // A participant like any other: in the roster under the URI it was dialled at, with a relay leg.
      await until(() => watcher.users().some((u) => u.entity === party.uri), 10_000, broker.logs);
      expect(await relayLegs(metricsPort)).toBe(legsBefore + 1);
      // It hangs up like any other: 200, leg released, roster deleted.
      expect(await party.hangUp(broker.sipPort)).toBe(200);
      await until(
        () => watcher.users().some((u) => u.entity === party.uri && u.state === 'deleted'),
        10_000,
        broker.logs,
      );
      await until(async () => (await relayLegs(metricsPort)) === legsBefore, 10_000, broker.logs);
    });

    it('dial-out refused (486): reported in the sipfrag, no leg and no roster entry left', async () => {
      const party = await DialledParty.open({ reject: 486, reason: 'Busy Here' });
      opened.push(party);
      const legsBefore = await relayLegs(metricsPort);
      const referred = await chair.refer(broker.sipPort, conf, `<${party.uri}>`);
      expect(referred.status).toBe(202);
      const last = await until(() => finalOf(chair, referred.callId), 10_000, broker.logs);
      expect(last.body.trim()).toBe('SIP/2.0 486 Busy Here');
      expect(last.subscriptionState).toBe('terminated;reason=noresource');
      expect(party.invites.length).toBeGreaterThanOrEqual(1);
      expect(await relayLegs(metricsPort)).toBe(legsBefore);
      expect(watcher.users().some((u) => u.entity === party.uri)).toBe(false);
    });

    it('dial-out nobody answers: CANCELled or timed out, reported failed, leg released', async () => {
      const party = await DialledParty.open({ silent: true });
      opened.push(party);
      const legsBefore = await relayLegs(metricsPort);
      const referred = await chair.refer(broker.sipPort, conf, `<${party.uri}>`);
      expect(referred.status).toBe(202);
      const last = await until(() => finalOf(chair, referred.callId), 30_000, broker.logs);
      expect(last.body).toMatch(/^SIP\/2\.0 (408|487) /);
      expect(await relayLegs(metricsPort)).toBe(legsBefore);
    }, 40_000);

    it('Refer-Sub: false (RFC 4488): the 202 says so, the party is dialled, no NOTIFY is sent', async () => {
      const party = await DialledParty.open({ answer: 'sendonly' });
      opened.push(party);
      const quiet = await Referrer.open('chair');
      opened.push(quiet);
      const referred = await quiet.refer(broker.sipPort, conf, `<${party.uri}>`, ['Refer-Sub: false']);
      expect(referred.status).toBe(202);
      expect(referred.headers.get('refer-sub')).toEqual(['false']);
      await until(() => party.acks.length === 1, 10_000, broker.logs);
      await until(() => watcher.users().some((u) => u.entity === party.uri), 10_000, broker.logs);
      // A REFER with a subscription from the same socket afterwards: its NOTIFYs are the only ones.
      const removal = await quiet.refer(broker.sipPort, conf, `<${party.uri};method=BYE>`);
      expect(removal.status).toBe(202);
      await until(() => finalOf(quiet, removal.callId), 10_000, broker.logs);
      expect(quiet.notifies.every((n) => n.callId === removal.callId)).toBe(true);
    });

    it('removal by the creator: BYE to the party, sipfrag 200, roster deleted, leg released', async () => {
      const party = await DialledParty.open({ answer: 'sendrecv' });
      opened.push(party);
      const referred = await chair.refer(broker.sipPort, conf, `<${party.uri}>`);
      await until(() => finalOf(chair, referred.callId), 10_000, broker.logs);
      await until(() => watcher.users().some((u) => u.entity === party.uri), 10_000, broker.logs);
      const legsWith = await relayLegs(metricsPort);
      // The party also watches the roster: its watch ends with the removal (reason=deactivated).
      const ownWatch = await ConferenceWatcher.subscribe(broker.sipPort, conf, party.user);
      opened.push(ownWatch);
      expect(ownWatch.status).toBe(200);
      const otherWatchNotifies = () =>
        watcher.notifies.filter((n) => n.subscriptionState.startsWith('terminated'));

      // Someone else may not: 403, and the party stays.
      const stranger = await Referrer.open('stranger');
      opened.push(stranger);
      const refused = await stranger.refer(broker.sipPort, conf, `<${party.uri};method=BYE>`);
      expect(refused.status).toBe(403);
      expect(party.byes).toHaveLength(0);

      const removal = await chair.refer(broker.sipPort, conf, `<${party.uri};method=BYE>`);
      expect(removal.status).toBe(202);
      const last = await until(() => finalOf(chair, removal.callId), 10_000, broker.logs);
      expect(last.body.trim()).toBe('SIP/2.0 200 OK');
      expect(party.byes).toHaveLength(1);
      expect(party.byes[0]).toMatch(/\r\nFrom: <sip:conf-[^>]+>;tag=/);
      await until(
        () => watcher.users().some((u) => u.entity === party.uri && u.state === 'deleted'),
        10_000,
        broker.logs,
      );
      await until(async () => (await relayLegs(metricsPort)) === legsWith - 1, 10_000, broker.logs);
      await until(
        () => ownWatch.notifies.some((n) => n.subscriptionState === 'terminated;reason=deactivated'),
        10_000,
        broker.logs,
      );
      // Only the removed party's watch ended; the chair's roster watcher goes on.
      expect(otherWatchNotifies()).toHaveLength(0);
    });

    it('removal by an admin identity (ADMIN_IDENTITIES) is allowed; an unknown participant gets sipfrag 404', async () => {
      const ops = await Referrer.open('ops');
      opened.push(ops);
      const removal = await ops.refer(broker.sipPort, conf, '<sip:nobody@127.0.0.1;method=BYE>');
      expect(removal.status).toBe(202);
      const last = await until(() => finalOf(ops, removal.callId), 10_000, broker.logs);
      expect(last.body.trim()).toBe('SIP/2.0 404 Not Found');
    });

    it('ending the conference (Refer-To: <conf URI;method=BYE>): creator only; BYE to all, watches end, topic free', async () => {
      const topic = `refer-end/${token(4)}`;
      const doomed = await createTopicAs(broker.sipPort, topic, 'chair');
      const rosterWatch = await ConferenceWatcher.subscribe(broker.sipPort, doomed, 'end-watcher');
      opened.push(rosterWatch);
      const party = await DialledParty.open({ answer: 'recvonly' });
      opened.push(party);
      const dialled = await chair.refer(broker.sipPort, doomed, `<${party.uri}>`);
      await until(() => finalOf(chair, dialled.callId), 10_000, broker.logs);
      const legsWith = await relayLegs(metricsPort);

      const stranger = await Referrer.open('stranger');
      opened.push(stranger);
      expect((await stranger.refer(broker.sipPort, doomed, `<${doomed};method=BYE>`)).status).toBe(403);

      const ended = await chair.refer(broker.sipPort, doomed, `<${doomed};method=BYE>`);
      expect(ended.status).toBe(202);
      const last = await until(() => finalOf(chair, ended.callId), 10_000, broker.logs);
      expect(last.body.trim()).toBe('SIP/2.0 200 OK');
      await until(() => party.byes.length === 1, 10_000, broker.logs);
      await until(
        () => rosterWatch.notifies.some((n) => n.subscriptionState === 'terminated;reason=noresource'),
        10_000,
        broker.logs,
      );
      await until(async () => (await relayLegs(metricsPort)) === legsWith - 1, 10_000, broker.logs);
      // The topic is free: the factory makes a new conference for it.
      const again = await createTopicAs(broker.sipPort, topic, 'someone-else');
      expect(again).not.toBe(doomed);
      // And the old URI is gone.
      expect((await chair.refer(broker.sipPort, doomed, '<sip:a@127.0.0.1>')).status).toBe(404);
    });

    it('bad REFERs get clear errors: tel: 416, unknown method 400, unknown conference 404', async () => {
      expect((await chair.refer(broker.sipPort, conf, '<tel:+15551234567>')).status).toBe(416);
      expect((await chair.refer(broker.sipPort, conf, '<sip:a@127.0.0.1;method=OPTIONS>')).status).toBe(400);
      const unknown = conf.replace(/conf-[a-z0-9]+/, 'conf-aaaaaaaaaaaaaaaaaaaaaaaaaa');
      expect((await chair.refer(broker.sipPort, unknown, '<sip:a@127.0.0.1>')).status).toBe(404);
    });
  });
}

scenario('embedded', async () => {
  const metricsPort = await freePort('tcp');
  const broker = await startEmbedded({ ...ENV, HTTP_PORT: String(metricsPort) });
  return { broker, metricsPort };
});

scenario('separate processes', async () => {
  const broker = await startSeparateProcesses({ env: ENV });
  const relay = broker.services?.find((s) => s.name === 'media-relay');
  if (!relay) throw new Error('no relay process');
  return { broker, metricsPort: relay.httpPort };
});
