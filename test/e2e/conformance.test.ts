// RFC 3261 / 6665 / 4575 conformance as a new user meets it (issue 8 item 7), against the embedded broker
// and the four separate processes with nats-server: every answer to an out-of-dialog request but 100
// carries a To tag (§8.2.6.2), whichever service produced it; a SUBSCRIBE whose Accept excludes the
// package's body type gets 406 naming it; the dial-in 200 carries Accept; the RFC 4575 roster shows each
// publisher's SSRC as <src-id>, each endpoint's own direction and status, and maximum-user-count.
import { SipPubSubClient } from '@sip-pubsub/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textOffer } from '../chaos/raw-peers.js';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { DigestAccount } from '../support/digest.js';
import { createTopic, RawEventWatcher } from '../support/raw-events.js';
import { type RawResponse, RawSipSocket, rawRequest, token } from '../support/raw-sip.js';
import { eventually } from './first-light.js';

const TO_TAG = /;\s*tag=[^;\s]+/i;
const UNKNOWN_CONFERENCE = 'sip:conf-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@localhost';

interface Probe {
  what: string;
  status: number;
  build(sip: RawSipSocket, conf: string): string;
  check?(res: RawResponse): void;
}

/** One request of each kind of out-of-dialog failure (and success) each service can answer. */
const PROBES: Probe[] = [
  {
    what: 'OPTIONS to the factory (focus)',
    status: 200,
    build: (sip) => rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: sip.port }),
  },
  {
    what: 'OPTIONS to an unknown conference (focus)',
    status: 404,
    build: (sip) => rawRequest({ method: 'OPTIONS', uri: UNKNOWN_CONFERENCE, localPort: sip.port }),
  },
  {
    what: 'INVITE to the factory without Subject (focus)',
    status: 400,
    build: (sip) => rawRequest({ method: 'INVITE', uri: 'sip:factory@localhost', localPort: sip.port }),
  },
  {
    what: 'INVITE to an unknown conference (focus)',
    status: 404,
    build: (sip) =>
      rawRequest({
        method: 'INVITE',
        uri: UNKNOWN_CONFERENCE,
        localPort: sip.port,
        headers: ['Content-Type: application/sdp'],
        body: textOffer('sendonly', 9),
      }),
  },
  {
    what: 'BYE without a dialog (focus)',
    status: 481,
    build: (sip, conf) => rawRequest({ method: 'BYE', uri: conf, localPort: sip.port }),
  },
  {
    what: 'SUBSCRIBE with too short an Expires (notifier)',
    status: 423,
    build: (sip, conf) =>
      rawRequest({
        method: 'SUBSCRIBE',
        uri: conf,
        localPort: sip.port,
        headers: ['Event: conference', 'Expires: 5'],
      }),
    check: (res) => expect(res.headers.get('min-expires')?.[0]).toBe('60'),
  },
  {
    what: 'SUBSCRIBE to an unknown package (notifier)',
    status: 489,
    build: (sip, conf) =>
      rawRequest({ method: 'SUBSCRIBE', uri: conf, localPort: sip.port, headers: ['Event: presence'] }),
    check: (res) => expect(res.headers.get('allow-events')?.[0]).toMatch(/\bconference\b/),
  },
  {
    what: 'SUBSCRIBE whose Accept excludes conference-info (notifier)',
    status: 406,
    build: (sip, conf) =>
      rawRequest({
        method: 'SUBSCRIBE',
        uri: conf,
        localPort: sip.port,
        headers: ['Event: conference', 'Accept: application/pidf+xml'],
      }),
    check: (res) => expect(res.headers.get('accept')?.[0]).toBe('application/conference-info+xml'),
  },
  {
    what: 'SUBSCRIBE to the directory whose Accept excludes its type (notifier)',
    status: 406,
    build: (sip) =>
      rawRequest({
        method: 'SUBSCRIBE',
        uri: 'sip:factory@localhost',
        localPort: sip.port,
        headers: ['Event: pubsub-conferences', 'Accept: application/conference-info+xml'],
      }),
    check: (res) => expect(res.headers.get('accept')?.[0]).toBe('application/pubsub-conferences-info+xml'),
  },
  {
    what: 'SUBSCRIBE to pubsub-data whose Accept excludes SenML JSON (notifier)',
    status: 406,
    build: (sip, conf) =>
      rawRequest({
        method: 'SUBSCRIBE',
        uri: conf,
        localPort: sip.port,
        headers: ['Event: pubsub-data', 'Accept: application/json, application/senml+json;q=0'],
      }),
    check: (res) => expect(res.headers.get('accept')?.[0]).toBe('application/senml+json'),
  },
  {
    what: 'SUBSCRIBE to an unknown conference (notifier)',
    status: 404,
    build: (sip) =>
      rawRequest({
        method: 'SUBSCRIBE',
        uri: UNKNOWN_CONFERENCE,
        localPort: sip.port,
        headers: ['Event: conference'],
      }),
  },
  {
    what: 'PUBLISH of another package (notifier)',
    status: 489,
    build: (sip, conf) =>
      rawRequest({
        method: 'PUBLISH',
        uri: conf,
        localPort: sip.port,
        headers: ['Event: conference', 'Content-Type: application/senml+json'],
        body: '[{"n":"t","v":1}]',
      }),
  },
  {
    what: 'PUBLISH with an unknown entity tag (notifier)',
    status: 412,
    build: (sip, conf) =>
      rawRequest({
        method: 'PUBLISH',
        uri: conf,
        localPort: sip.port,
        headers: ['Event: pubsub-data', 'SIP-If-Match: nosuchtag'],
      }),
  },
  {
    what: 'a method nobody serves (edge)',
    status: 405,
    build: (sip, conf) => rawRequest({ method: 'MESSAGE', uri: conf, localPort: sip.port }),
  },
  {
    what: 'Require of an unknown extension (edge, §8.2.2.3)',
    status: 420,
    build: (sip) =>
      rawRequest({
        method: 'OPTIONS',
        uri: 'sip:factory@localhost',
        localPort: sip.port,
        headers: ['Require: no-such-extension'],
      }),
    check: (res) => expect(res.headers.get('unsupported')?.[0]).toBe('no-such-extension'),
  },
  {
    what: 'a tel: Request-URI (edge, §8.2.1)',
    status: 416,
    build: (sip) =>
      rawRequest({ method: 'OPTIONS', uri: 'tel:+15550100', localPort: sip.port }).replace(
        'To: <tel:+15550100>',
        'To: <sip:factory@localhost>',
      ),
  },
  {
    what: 'a CSeq whose method is not the request method (edge, §8.2)',
    status: 400,
    build: (sip) =>
      rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: sip.port }).replace(
        /CSeq: 1 OPTIONS/,
        'CSeq: 1 INVITE',
      ),
  },
  {
    what: 'CANCEL that matches no INVITE (edge, §9.2)',
    status: 481,
    build: (sip, conf) => rawRequest({ method: 'CANCEL', uri: conf, localPort: sip.port }),
  },
];

function suite(name: string, start: () => Promise<RunningBroker>): void {
  describe(`conformance (${name})`, () => {
    let broker: RunningBroker;
    let sip: RawSipSocket;
    let conf: string;
    beforeAll(async () => {
      broker = await start();
      sip = await RawSipSocket.open();
      conf = await createTopic(broker.sipPort, `conformance/${name}/${token(3)}`);
    }, 120_000);
    afterAll(async () => {
      sip?.close();
      await broker?.stop();
    });

    it('tags To in every answer to an out-of-dialog request, whichever service answers (§8.2.6.2)', async () => {
      for (const probe of PROBES) {
        const res = await sip.request(probe.build(sip, conf), broker.sipPort, 8_000);
        expect(`${probe.what}: ${res.status}`).toBe(`${probe.what}: ${probe.status}`);
        expect(res.headers.get('to')?.[0], `${probe.what}: ${res.raw}`).toMatch(TO_TAG);
        probe.check?.(res);
      }
    });

    it('answers a dial-in INVITE with Accept next to Allow and Allow-Events', async () => {
      const callId = token(10);
      const fromTag = token();
      const ok = await sip.request(
        rawRequest({
          method: 'INVITE',
          uri: conf,
          localPort: sip.port,
          callId,
          fromTag,
          headers: ['Content-Type: application/sdp'],
          body: textOffer('sendonly', 9),
        }),
        broker.sipPort,
        8_000,
      );
      expect(ok.status).toBe(200);
      const accept = ok.headers.get('accept')?.[0] ?? '';
      expect(accept.split(/\s*,\s*/)).toEqual(
        expect.arrayContaining(['application/sdp', 'application/conference-info+xml', 'message/sipfrag']),
      );
      const toTag = /;tag=([^;\s]+)/.exec(ok.headers.get('to')?.[0] ?? '')?.[1];
      expect(toTag).toBeDefined();
      sip.send(
        rawRequest({ method: 'ACK', uri: conf, localPort: sip.port, callId, fromTag, toTag, cseq: 1 }),
        broker.sipPort,
      );
      const bye = await sip.request(
        rawRequest({ method: 'BYE', uri: conf, localPort: sip.port, callId, fromTag, toTag, cseq: 2 }),
        broker.sipPort,
      );
      expect(bye.status).toBe(200);
    });

    it('shows src-id (the SSRC a publisher sends with), own directions, on-hold and the caps in the roster', async () => {
      const topic = `conformance/${name}/roster/${token(3)}`;
      const client = await SipPubSubClient.connect({
        server: `127.0.0.1:${broker.sipPort}`,
        user: 'meter',
        requestTimeoutMs: 8_000,
      });
      let watcher: RawEventWatcher | undefined;
      const idle = await RawSipSocket.open();
      try {
        const uri = await client.resolveTopic(topic);
        watcher = await RawEventWatcher.subscribe(broker.sipPort, uri, {
          event: 'conference',
          accept: 'application/conference-info+xml',
        });
        expect(watcher.status).toBe(200);
        const publisher = await client.publisherAt(uri);
        // A participant whose offer is inactive stays in the roster, on hold.
        const held = await idle.request(
          rawRequest({
            method: 'INVITE',
            uri,
            localPort: idle.port,
            user: 'idle',
            headers: ['Content-Type: application/sdp'],
            body: textOffer('inactive', 9),
          }),
          broker.sipPort,
          8_000,
        );
        expect(held.status).toBe(200);
        // A second publisher is past the conference's publisher cap.
        const full = await idle.request(
          rawRequest({
            method: 'INVITE',
            uri,
            localPort: idle.port,
            user: 'second-meter',
            headers: ['Content-Type: application/sdp'],
            body: textOffer('sendonly', 9),
          }),
          broker.sipPort,
          8_000,
        );
        expect(full.status).toBe(486);
        expect(full.headers.get('to')?.[0]).toMatch(TO_TAG);
        await publisher.publish([{ n: 'temp', u: 'Cel', v: 21.5 }]);
        const latest = () => watcher!.notifies.map((n) => n.body).join('\n');
        // The SSRC reaches the roster once the relay has shared the publisher's first packet.
        await eventually(
          'the publisher SSRC as src-id',
          () => latest().includes(`<src-id>${publisher.ssrc}</src-id>`),
          15_000,
        );
        // The last word on each user: partial NOTIFYs carry only the users that changed.
        const lastUser = (user: string) => {
          for (const n of [...watcher!.notifies].reverse()) {
            const found = new RegExp(`<user entity="sip:${user}@[^"]*"[\\s\\S]*?</user>`).exec(n.body);
            if (found) return found[0];
          }
          return '';
        };
        const meter = lastUser('meter');
        expect(meter).toMatch(/<status>connected<\/status>/);
        expect(meter).toMatch(
          /<media id="[^"]+">\s*<type>text<\/type>\s*<src-id>\d+<\/src-id>\s*<status>sendonly<\/status>/,
        );
        const held2 = lastUser('idle');
        expect(held2).toMatch(/<endpoint[^>]*>\s*<status>on-hold<\/status>/);
        expect(held2).toMatch(/<status>inactive<\/status>/);
        // The full-state NOTIFY names the conference's cap (MAX_LEGS_PER_CONFERENCE, 1000 by default).
        expect(watcher.notifies[0].body).toMatch(/<maximum-user-count>1000<\/maximum-user-count>/);
        expect(watcher.notifies[0].body).toMatch(/<(\w+:)?maximum-user-count-publisher>1<\//);
        expect(watcher.notifies[0].body).not.toMatch(/maximum-user-count-subscriber/);
        await publisher.close();
      } finally {
        watcher?.close();
        idle.close();
        await client.close();
      }
    });

    it('takes a second Event id in a subscription dialog as a second subscription; each ends on its own (RFC 6665 §4.5.2)', async () => {
      const watcher = await RawEventWatcher.subscribe(broker.sipPort, conf, {
        event: 'conference;id=first',
        accept: 'application/conference-info+xml',
      });
      try {
        expect(watcher.status).toBe(200);
        await eventually('the first NOTIFY', () => watcher.notifies.length >= 1);
        // The dialog as the first NOTIFY shows it: our tag in To, the notifier's in From.
        const head = watcher.notifies[0].head;
        const field = (name: string) => new RegExp(`\r\n${name}: *([^\r\n]*)`, 'i').exec(head)?.[1] ?? '';
        const callId = field('Call-ID');
        const fromTag = /;tag=([^;\s]+)/.exec(field('To'))?.[1];
        const toTag = /;tag=([^;\s]+)/.exec(field('From'))?.[1];
        const inDialog = (cseq: number, id: string, expires?: number) =>
          watcher.sip.request(
            rawRequest({
              method: 'SUBSCRIBE',
              uri: conf,
              localPort: watcher.sip.port,
              user: 'raw-watcher',
              callId,
              fromTag,
              toTag,
              cseq,
              headers: [
                `Event: conference;id=${id}`,
                'Accept: application/conference-info+xml',
                ...(expires !== undefined ? [`Expires: ${expires}`] : []),
              ],
            }),
            broker.sipPort,
            8_000,
          );
        const second = await inDialog(2, 'second');
        expect(second.status).toBe(200);
        await eventually('a NOTIFY for the second subscription', () =>
          watcher.notifies.some((n) => n.event === 'conference;id=second'),
        );
        const ended = await inDialog(3, 'first', 0);
        expect(ended.status).toBe(200);
        await eventually('the first subscription terminated', () =>
          watcher.notifies.some(
            (n) => n.event === 'conference;id=first' && n.subscriptionState.startsWith('terminated'),
          ),
        );
        // The second lives on: a refresh of it is accepted in the same dialog, and it gets a fresh NOTIFY.
        const before = watcher.notifies.length;
        expect((await inDialog(4, 'second')).status).toBe(200);
        await eventually('a NOTIFY after the refresh', () =>
          watcher.notifies.slice(before).some((n) => n.event === 'conference;id=second'),
        );
        expect(watcher.notifies.slice(before).every((n) => n.event === 'conference;id=second')).toBe(true);
        const last = await inDialog(5, 'second', 0);
        expect(last.status).toBe(200);
        // With its last subscription gone, the dialog is gone too.
        expect((await inDialog(6, 'third')).status).toBe(481);
      } finally {
        watcher.close();
      }
    });
  });
}

// Each conference admits one publisher: the roster names that cap next to maximum-user-count.
const CAPS = { MAX_PUBLISHERS_PER_CONFERENCE: '1' };
suite('embedded', () => startEmbedded(CAPS));
suite('split', () => startSeparateProcesses({ env: CAPS }));

describe('conformance with digest authentication (embedded)', () => {
  let broker: RunningBroker;
  let sip: RawSipSocket;
  beforeAll(async () => {
    broker = await startEmbedded({ AUTH_REALM: 'localhost', AUTH_CREDENTIALS: 'alice:secret' });
    sip = await RawSipSocket.open();
  }, 120_000);
  afterAll(async () => {
    sip?.close();
    await broker?.stop();
  });

  it('tags To in the 401 challenge and in the 403 for a From that is not the identity', async () => {
    const subscribe = (headers: string[] = [], user = 'alice') =>
      rawRequest({
        method: 'SUBSCRIBE',
        uri: 'sip:factory@localhost',
        localPort: sip.port,
        user,
        headers: ['Event: pubsub-conferences', ...headers],
      });
    const challenge = await sip.request(subscribe(), broker.sipPort);
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get('to')?.[0]).toMatch(TO_TAG);
    const alice = new DigestAccount('alice', 'secret');
    alice.challenged(challenge);
    const forged = await sip.request(
      subscribe([alice.authorization('SUBSCRIBE', 'sip:factory@localhost')], 'mallory'),
      broker.sipPort,
    );
    expect(forged.status).toBe(403);
    expect(forged.headers.get('to')?.[0]).toMatch(TO_TAG);
  });
});
