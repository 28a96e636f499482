// FACTORY_MODE=join with two focus replicas over nats-server: a caller that joins through the factory
// is answered by the replica owning `factory`, but its RFC 4028 session timer must be kept by the
// replica owning the conference (the only one that acts on the conference's dialogs). The topic is
// picked so that the two owners differ; a caller that never refreshes gets the focus's BYE at the
// deadline (3 - min(32, 3/3) = 2 s), one that refreshes with a re-INVITE to the conference does not.
import * as dgram from 'node:dgram';
import { rendezvousOwner } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/broker-probes.js';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { keepMediaConsent } from '../support/media-consent.js';
import { createTopic } from '../support/raw-events.js';
import { okTo, plainTextOffer, RawSipSocket, rawRequest, tagOf, token } from '../support/raw-sip.js';

const offer = (port: number) => plainTextOffer(port);

describe('session timers of factory joins are kept by the conference owner (FACTORY_MODE=join, split)', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startSeparateProcesses({
      replicas: 2,
      edges: 1,
      notifiers: 1,
      env: { FACTORY_MODE: 'join', SESSION_MIN_SE: '2', SIP_T1_MS: '100' },
    });
  }, 90_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('a caller joined at the factory owner and never refreshing gets BYE at the deadline from the conference owner', async () => {
    const sipPort = broker.sipPort;
    const focusIds = broker.services!.filter((s) => s.name === 'focus-controller').map((s) => s.instanceId);
    const factoryOwner = rendezvousOwner('factory', focusIds);
    // A topic whose conference another replica owns (one in two, by rendezvous hashing).
    let topic = '';
    let conferenceOwner: string | undefined;
    for (let i = 0; i < 40 && (conferenceOwner === undefined || conferenceOwner === factoryOwner); i++) {
      topic = `factory-timer/${token(4)}`;
      const conf = await createTopic(sipPort, topic);
      conferenceOwner = rendezvousOwner(/conf-([^@]+)@/.exec(conf)![1], focusIds);
    }
    expect(conferenceOwner).not.toBe(factoryOwner);

    const sip = await RawSipSocket.open();
    const rtp = dgram.createSocket('udp4');
    await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', r));
    const byes: string[] = [];
    sip.socket.on('message', (msg, rinfo) => {
      const text = msg.toString('utf8');
      if (!text.startsWith('BYE ')) return;
      byes.push(text);
      sip.send(okTo(text), rinfo.port, rinfo.address);
    });
    const stops: (() => void)[] = [];
    try {
      const join = async (user: string, sessionExpires: string) => {
        const callId = token(10);
        const fromTag = token();
        const res = await sip.request(
          rawRequest({
            method: 'INVITE',
            uri: 'sip:factory@localhost',
            localPort: sip.port,
            callId,
            fromTag,
            user,
            headers: [
              `Subject: ${topic}`,
              'Content-Type: application/sdp',
              'Supported: timer',
              `Session-Expires: ${sessionExpires}`,
            ],
            body: offer(rtp.address().port),
          }),
          sipPort,
        );
        expect(res.status).toBe(200);
        const conference = /<([^>]+)>/.exec(res.headers.get('contact')![0])![1];
        const toTag = tagOf(res.headers.get('to')?.[0]);
        sip.send(
          rawRequest({ method: 'ACK', uri: conference, localPort: sip.port, callId, fromTag, toTag, user }),
          sipPort,
        );
        // Media consent, so the relay keeps the leg while the timer runs (its silence rule is another ending).
        stops.push(
          keepMediaConsent(rtp, {
            host: /\r\nc=IN IP4 ([^\r\n]+)/.exec(res.body)![1],
            port: Number(/\r\nm=text (\d+)/.exec(res.body)![1]),
          }),
        );
        return { res, conference, callId, fromTag, toTag, user };
      };

      const silent = await join('silent', '3;refresher=uac');
      expect(silent.res.headers.get('session-expires')?.[0]).toBe('3;refresher=uac');
      expect(silent.conference).toMatch(/^sip:conf-/);

      const bye = await until(
        () => byes.find((b) => b.includes(`Call-ID: ${silent.callId}`)),
        15_000,
        broker.logs,
      );
      expect(bye).toMatch(/\r\nReason: *SIP ;cause=408 ;text="no session refresh within 3 s"/);

      // A refresh re-INVITE to the conference is answered there, and renews the timer it keeps.
      const kept = await join('kept', '60;refresher=uac');
      const refreshed = await sip.request(
        rawRequest({
          method: 'INVITE',
          uri: kept.conference,
          localPort: sip.port,
          callId: kept.callId,
          fromTag: kept.fromTag,
          toTag: kept.toTag,
          user: kept.user,
          cseq: 2,
          headers: ['Content-Type: application/sdp', 'Supported: timer', 'Session-Expires: 60;refresher=uac'],
          body: offer(rtp.address().port),
        }),
        sipPort,
      );
      expect(refreshed.status).toBe(200);
      expect(refreshed.headers.get('session-expires')?.[0]).toBe('60;refresher=uac');
      sip.send(
        rawRequest({
          method: 'ACK',
          uri: kept.conference,
          localPort: sip.port,
          callId: kept.callId,
          fromTag: kept.fromTag,
          toTag: kept.toTag,
          user: kept.user,
          cseq: 2,
        }),
        sipPort,
      );
      // It leaves on its own; the conference's owner answers that BYE too.
      const left = await sip.request(
        rawRequest({
          method: 'BYE',
          uri: kept.conference,
          localPort: sip.port,
          callId: kept.callId,
          fromTag: kept.fromTag,
          toTag: kept.toTag,
          user: kept.user,
          cseq: 3,
        }),
        sipPort,
      );
      expect(left.status).toBe(200);
    } finally {
      for (const stop of stops) stop();
      sip.close();
      rtp.close();
    }
  }, 90_000);
});
