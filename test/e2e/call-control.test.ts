// Call control on the wire, embedded and as four processes with nats-server: Replaces (RFC 3891) and
// Join (RFC 3911) on INVITEs to a conference URI, FACTORY_MODE=join (RFC 4579 §5.5), UPDATE role change
// (RFC 3311), INFO not served, conference termination by REFER, a cancelled INVITE, and the advertised
// surface (every method and package OPTIONS names is served: no 501, no 489).
import { freePort } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayLegs, until } from '../support/broker-probes.js';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { DialInParty } from '../support/dial-in-party.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';
import { ConferenceWatcher, createTopicAs, Referrer } from '../support/refer-peers.js';

const ENV = { SIP_T1_MS: '100', FACTORY_MODE: 'join', ADMIN_IDENTITIES: 'sip:ops@127.0.0.1' };

/** The endpoints of `user` in a fresh full-state roster (a new watcher's first NOTIFY). */
async function endpointsOf(sipPort: number, conf: string, user: string, logs: () => string): Promise<number> {
  const w = await ConferenceWatcher.subscribe(sipPort, conf, `probe-${token(3)}`);
  try {
    const body = await until(() => w.notifies[0]?.body, 10_000, logs);
    const users = [...body.matchAll(/<user\b[^>]*entity="([^"]+)"[^>]*>([\s\S]*?)<\/user>/g)];
    const mine = users.find((u) => u[1] === `sip:${user}@127.0.0.1`);
    return mine ? [...mine[2].matchAll(/<endpoint\b/g)].length : 0;
  } finally {
    w.close();
  }
}

function scenario(
  name: string,
  start: () => Promise<{ broker: RunningBroker; metricsPort: number; relayPid?: number }>,
) {
  describe(`call control (${name})`, () => {
    let broker: RunningBroker;
    let metricsPort: number;
    let relayPid: number | undefined;
    let conf: string;
    const opened: { close(): void }[] = [];
    const party = async (user?: string) => {
      const p = await DialInParty.open(user);
      opened.push(p);
      return p;
    };
    beforeAll(async () => {
      ({ broker, metricsPort, relayPid } = await start());
      conf = await createTopicAs(broker.sipPort, `cc/${token(4)}`, 'chair');
    }, 90_000);
    afterAll(async () => {
      for (const o of opened) o.close();
      await broker?.stop();
    });

    it('Replaces (with Require: replaces): the new dialog takes the leg and role, the old one gets BYE, one endpoint', async () => {
      const first = await party('alice');
      expect((await first.invite(broker.sipPort, conf, 'sendonly')).status).toBe(200);
      await until(
        async () => (await endpointsOf(broker.sipPort, conf, 'alice', broker.logs)) === 1,
        10_000,
        broker.logs,
      );
      const legs = await relayLegs(metricsPort);
      const second = await party('alice');
      const res = await second.invite(broker.sipPort, conf, 'sendrecv', [
        `Replaces: ${first.dialogReference}`,
        'Require: replaces',
      ]);
      expect(res.status).toBe(200);
      expect(res.headers.get('contact')?.[0]).toBe(`<${conf}>;isfocus`);
      // The replaced participant only published, so the new sendrecv offer is narrowed to that role.
      expect(res.body).toMatch(/\r\na=recvonly/);
      const bye = await until(() => first.byes[0], 10_000, broker.logs);
      expect(bye).toContain(`Call-ID: ${first.callId}`);
      expect(bye).toMatch(/\r\nFrom: <sip:conf-[^>]+>;tag=/);
      expect(await endpointsOf(broker.sipPort, conf, 'alice', broker.logs)).toBe(1);
      await until(async () => (await relayLegs(metricsPort)) === legs, 10_000, broker.logs);
      // The old dialog is gone: its BYE now gets 481; the new one ends normally.
      expect((await first.inDialog(broker.sipPort, 'BYE')).status).toBe(481);
      expect((await second.inDialog(broker.sipPort, 'BYE')).status).toBe(200);
    });

    it('481 for Replaces or Join naming no dialog of this conference; 486 for early-only; 400 for both', async () => {
      const present = await party('carol');
      expect((await present.invite(broker.sipPort, conf, 'sendonly')).status).toBe(200);
      const other = await createTopicAs(broker.sipPort, `cc/other-${token(4)}`, 'chair');
      for (const [uri, h] of [
        [other, `Replaces: ${present.dialogReference}`],
        [other, `Join: ${present.dialogReference}`],
        [conf, `Replaces: nosuchcall;to-tag=${present.toTag};from-tag=${present.fromTag}`],
        [conf, `Join: ${present.callId};to-tag=${present.fromTag};from-tag=${present.toTag}`],
      ]) {
        const p = await party('dave');
        const res = await p.invite(broker.sipPort, uri, 'sendonly', [h]);
        expect(res.status, h).toBe(481);
        expect(res.headers.get('to')?.[0]).toMatch(/;tag=/);
      }
      const early = await party('dave');
      expect(
        (
          await early.invite(broker.sipPort, conf, 'sendonly', [
            `Replaces: ${present.dialogReference};early-only`,
          ])
        ).status,
      ).toBe(486);
      const both = await party('dave');
      const res = await both.invite(broker.sipPort, conf, 'sendonly', [
        `Replaces: ${present.dialogReference}`,
        `Join: ${present.dialogReference}`,
      ]);
      expect(res.status).toBe(400);
      expect(present.byes).toHaveLength(0);
      expect(await endpointsOf(broker.sipPort, conf, 'dave', broker.logs)).toBe(0);
    });

    it('Join adds the caller to the conference of the named dialog', async () => {
      const host = await party('erin');
      expect((await host.invite(broker.sipPort, conf, 'sendonly')).status).toBe(200);
      const joiner = await party('frank');
      const res = await joiner.invite(broker.sipPort, conf, 'recvonly', [`Join: ${host.dialogReference}`]);
      expect(res.status).toBe(200);
      expect(res.body).toMatch(/\r\na=sendonly/);
      expect(await endpointsOf(broker.sipPort, conf, 'frank', broker.logs)).toBe(1);
      expect(await endpointsOf(broker.sipPort, conf, 'erin', broker.logs)).toBe(1);
      expect(host.byes).toHaveLength(0);
    });

    it('FACTORY_MODE=join: an INVITE with an offer to the factory is answered 200 by the conference', async () => {
      const topic = `cc/factory-${token(4)}`;
      const p = await party('gina');
      const res = await p.invite(broker.sipPort, 'sip:factory@localhost', 'sendonly', [`Subject: ${topic}`]);
      expect(res.status).toBe(200);
      const contact = res.headers.get('contact')?.[0] ?? '';
      expect(contact).toMatch(/^<sip:conf-[a-z2-7]+@localhost>;isfocus$/);
      const made = /<([^>]+)>/.exec(contact)![1];
      expect(await endpointsOf(broker.sipPort, made, 'gina', broker.logs)).toBe(1);
      // An INVITE without an offer still gets the 302 to the same conference.
      expect(await createTopicAs(broker.sipPort, topic, 'chair')).toBe(made);
      expect((await p.inDialog(broker.sipPort, 'BYE')).status).toBe(200);
      await until(
        async () => (await endpointsOf(broker.sipPort, made, 'gina', broker.logs)) === 0,
        10_000,
        broker.logs,
      );
    });

    it('UPDATE with an offer changes the role; INFO gets 405 without INFO in Allow', async () => {
      const p = await party('hank');
      expect((await p.invite(broker.sipPort, conf, 'sendonly')).status).toBe(200);
      const up = await p.inDialog(broker.sipPort, 'UPDATE', {
        body: p.offer('recvonly'),
        contentType: 'application/sdp',
      });
      expect(up.status).toBe(200);
      expect(up.body).toMatch(/\r\na=sendonly/);
      const w = await ConferenceWatcher.subscribe(broker.sipPort, conf, `probe-${token(3)}`);
      opened.push(w);
      const body = await until(() => w.notifies[0]?.body, 10_000, broker.logs);
      const hank = /<user\b[^>]*entity="sip:hank@127\.0\.0\.1"[^>]*>([\s\S]*?)<\/user>/.exec(body)?.[1] ?? '';
      // The roster shows the role the UPDATE asked for (it joined as a publisher).
      expect(hank).toMatch(/<roles>\s*<entry>subscriber<\/entry>/);
      const info = await p.inDialog(broker.sipPort, 'INFO', {
        body: '[{"n":"x","v":1}]',
        contentType: 'application/senml+json',
      });
      expect(info.status).toBe(405);
      expect(info.headers.get('allow')?.[0]).not.toMatch(/INFO/);
    });

    it('the advertised surface: every method in Allow and package in Allow-Events gets neither 501 nor 489', async () => {
      const sip = await RawSipSocket.open();
      opened.push(sip);
      const options = await sip.request(
        rawRequest({ method: 'OPTIONS', uri: conf, localPort: sip.port }),
        broker.sipPort,
      );
      expect(options.status).toBe(200);
      const list = (h: string) =>
        (options.headers.get(h)?.[0] ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
      const methods = list('allow');
      const packages = list('allow-events');
      const supported = list('supported');
      expect(methods).not.toContain('INFO');
      expect(supported).toEqual(expect.arrayContaining(['replaces', 'join']));
      const answered: Record<string, number> = {};
      for (const method of methods) {
        if (method === 'ACK' || method === 'CANCEL') continue; // no response of their own / hop by hop
        const headers =
          method === 'SUBSCRIBE'
            ? ['Event: conference', 'Expires: 0']
            : method === 'PUBLISH'
              ? ['Event: pubsub-data', 'Content-Type: application/senml+json']
              : method === 'REFER'
                ? ['Refer-To: <sip:nobody@127.0.0.1;method=BYE>']
                : method === 'NOTIFY'
                  ? ['Event: conference', 'Subscription-State: active']
                  : [];
        const body = method === 'PUBLISH' ? '[{"n":"surface","v":1}]' : undefined;
        const res = await sip.request(
          rawRequest({
            method,
            uri: conf,
            localPort: sip.port,
            user: 'chair',
            headers,
            ...(body ? { body } : {}),
          }),
          broker.sipPort,
          8_000,
        );
        answered[method] = res.status;
      }
      for (const pkg of packages) {
        const uri = pkg === 'pubsub-conferences' ? 'sip:factory@localhost' : conf;
        const res = await sip.request(
          rawRequest({
            method: 'SUBSCRIBE',
            uri,
            localPort: sip.port,
            headers: [`Event: ${pkg}`, 'Expires: 0'],
          }),
          broker.sipPort,
          8_000,
        );
        answered[`SUBSCRIBE ${pkg}`] = res.status;
      }
      for (const [what, status] of Object.entries(answered)) {
        expect(status, what).not.toBe(501);
        expect(status, what).not.toBe(489);
      }
      expect(Object.keys(answered)).toEqual(
        expect.arrayContaining(['INVITE', 'UPDATE', 'REFER', 'SUBSCRIBE conference']),
      );
    });

    if (name === 'separate processes')
      it('a cancelled INVITE leaves no participant: CANCEL while the relay is held, 487, nothing stays', async () => {
        const legs = await relayLegs(metricsPort);
        const sip = await RawSipSocket.open();
        opened.push(sip);
        const invite = rawRequest({
          method: 'INVITE',
          uri: conf,
          localPort: sip.port,
          user: 'ivan',
          headers: ['Content-Type: application/sdp'],
          body: [
            'v=0',
            'o=- 1 1 IN IP4 127.0.0.1',
            's=-',
            'c=IN IP4 127.0.0.1',
            't=0 0',
            'm=text 40000 RTP/AVP 98',
            'a=rtpmap:98 t140/1000',
            '',
          ].join('\r\n'),
        });
        // The relay is stopped, so the focus's leg allocation waits while the CANCEL arrives.
        process.kill(relayPid!, 'SIGSTOP');
        try {
          sip.send(invite, broker.sipPort);
          await sip.next((m) => m.startsWith('SIP/2.0 100 '), 5_000);
          const copy = (h: string) => new RegExp(`\\r\\n(${h}: [^\\r\\n]+)`).exec(invite)![1];
          const cancel = [
            `CANCEL ${conf} SIP/2.0`,
            copy('Via'),
            'Max-Forwards: 70',
            copy('From'),
            copy('To'),
            copy('Call-ID'),
            'CSeq: 1 CANCEL',
            'Content-Length: 0',
            '',
            '',
          ].join('\r\n');
          expect((await sip.request(cancel, broker.sipPort)).status).toBe(200);
          const final = await sip.next((m) => /^SIP\/2\.0 [2-6]\d\d /.test(m) && m.includes('INVITE'), 5_000);
          expect(final).toMatch(/^SIP\/2\.0 487 /);
        } finally {
          process.kill(relayPid!, 'SIGCONT');
        }
        // The held allocation completes once the relay runs again; the focus then undoes the join the edge
        // gave up on. Leg count alone could read the baseline before the allocation happened at all.
        await until(
          async () =>
            (await endpointsOf(broker.sipPort, conf, 'ivan', broker.logs)) === 0 &&
            (await relayLegs(metricsPort)) === legs,
          15_000,
          broker.logs,
        );
        await new Promise((r) => setTimeout(r, 1_000));
        expect(await endpointsOf(broker.sipPort, conf, 'ivan', broker.logs)).toBe(0);
        expect(await relayLegs(metricsPort)).toBe(legs);
      }, 40_000);

    it('termination by the creator (REFER Refer-To: <conf;method=BYE>): BYE to all, watchers noresource, topic free', async () => {
      const topic = `cc/end-${token(4)}`;
      const ending = await createTopicAs(broker.sipPort, topic, 'chair');
      const a = await party('jane');
      const b = await party('kurt');
      expect((await a.invite(broker.sipPort, ending, 'sendonly')).status).toBe(200);
      expect((await b.invite(broker.sipPort, ending, 'recvonly')).status).toBe(200);
      const watcher = await ConferenceWatcher.subscribe(broker.sipPort, ending, 'watcher');
      opened.push(watcher);
      expect(watcher.status).toBe(200);
      const stranger = await Referrer.open('stranger');
      opened.push(stranger);
      expect((await stranger.refer(broker.sipPort, ending, `<${ending};method=BYE>`)).status).toBe(403);
      const chair = await Referrer.open('chair');
      opened.push(chair);
      const legs = await relayLegs(metricsPort);
      const referred = await chair.refer(broker.sipPort, ending, `<${ending};method=BYE>`);
      expect(referred.status).toBe(202);
      await until(() => a.byes.length === 1 && b.byes.length === 1, 10_000, broker.logs);
      await until(
        () => watcher.notifies.some((n) => n.subscriptionState === 'terminated;reason=noresource'),
        10_000,
        broker.logs,
      );
      await until(async () => (await relayLegs(metricsPort)) === legs - 2, 10_000, broker.logs);
      const late = await party('late');
      expect((await late.invite(broker.sipPort, ending, 'sendonly')).status).toBe(404);
      const again = await createTopicAs(broker.sipPort, topic, 'chair');
      expect(again).not.toBe(ending);
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
  return { broker, metricsPort: relay.httpPort, relayPid: relay.pid };
});
