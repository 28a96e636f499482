// A PUBLISHed pack reaches RTP subscribers in their forwarding mode (PROFILE "Media"), like an RTP
// publication: translate keeps the publisher's SSRC, mix (RFC 9071) sends from the relay's SSRC with one
// CSRC naming the PUBLISH source, aggregate sends the records in a window's pack with the source among the
// contributors. Raw SIP subscribers over UDP offer each mode; raw RTP sockets read what the relay sends.
import * as dgram from 'node:dgram';
import { createTextOffer, LineAssembler, parseRtp, T140Receiver } from '@sip-pubsub/media';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded } from '../support/brokers.js';
import { keepMediaConsent } from '../support/media-consent.js';
import { createTopic, RawPublisher } from '../support/raw-events.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';
import { eventually } from './first-light.js';

const T140_PT = 98;
const RED_PT = 100;

interface RawLeg {
  lines: { line: string; ssrc: number; csrcs: number[] }[];
  close(): void;
}

/** Joins `conference` as a subscriber offering `mode`; collects the lines the relay sends. */
async function rawSubscriber(
  sipPort: number,
  conference: string,
  mode: 'translate' | 'mix' | 'aggregate',
): Promise<RawLeg> {
  const rtp = dgram.createSocket('udp4');
  await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', r));
  const leg: RawLeg = { lines: [], close: () => undefined };
  const streams = new Map<number, { rx: T140Receiver; lines: LineAssembler }>();
  rtp.on('message', (data) => {
    let packet: ReturnType<typeof parseRtp>;
    try {
      packet = parseRtp(data);
    } catch {
      return; // RTCP or a keep-alive
    }
    let stream = streams.get(packet.ssrc);
    if (!stream) {
      stream = { rx: new T140Receiver({ t140Pt: T140_PT, redPt: RED_PT }), lines: new LineAssembler() };
      streams.set(packet.ssrc, stream);
    }
    for (const line of stream.lines.push(stream.rx.receive(packet).text).lines)
      leg.lines.push({ line, ssrc: packet.ssrc, csrcs: packet.csrcs });
  });
  const sip = await RawSipSocket.open();
  const offer = createTextOffer({
    address: '127.0.0.1',
    port: rtp.address().port,
    direction: 'recvonly',
    t140Pt: T140_PT,
    redPt: RED_PT,
    mixer: mode === 'mix',
    ...(mode === 'aggregate' ? { aggregateWindowMs: 100 } : {}),
  });
  const callId = token(10);
  const fromTag = token();
  const user = `raw-${mode}`;
  const ok = await sip.request(
    rawRequest({
      method: 'INVITE',
      uri: conference,
      localPort: sip.port,
      callId,
      fromTag,
      user,
      headers: ['Content-Type: application/sdp'],
      body: offer,
    }),
    sipPort,
  );
  expect(ok.status).toBe(200);
  const focusTag = /;tag=([^;\s]+)/.exec(ok.headers.get('to')![0])![1];
  sip.send(
    rawRequest({
      method: 'ACK',
      uri: conference,
      localPort: sip.port,
      callId,
      fromTag,
      toTag: focusTag,
      user,
    }),
    sipPort,
  );
  // Media consent (README "Media consent"): the relay sends nothing until it hears from our RTP port.
  const answer = ok.body.toString();
  const host = /^c=IN IP4 (\S+)/m.exec(answer)?.[1] ?? '127.0.0.1';
  const port = Number(/^m=text (\d+) /m.exec(answer)?.[1]);
  const stopKeepAlive = keepMediaConsent(rtp, { host, port });
  leg.close = () => {
    stopKeepAlive();
    sip.close();
    rtp.close();
  };
  return leg;
}

describe('PUBLISH to subscribers in translate, mix and aggregate mode (embedded broker)', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startEmbedded();
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('delivers the pack once to each, in its mode', async () => {
    const conference = await createTopic(broker.sipPort, `modes/${token(3)}/temp`);
    const legs = {
      translate: await rawSubscriber(broker.sipPort, conference, 'translate'),
      mix: await rawSubscriber(broker.sipPort, conference, 'mix'),
      aggregate: await rawSubscriber(broker.sipPort, conference, 'aggregate'),
    };
    const publisher = await RawPublisher.open(broker.sipPort, conference, 'modes-sensor');
    try {
      const res = await publisher.publish({ body: JSON.stringify([{ bn: 'urn:dev:m:', n: 'temp', v: 5 }]) });
      expect(res.status).toBe(200);
      for (const [mode, leg] of Object.entries(legs))
        await eventually(`the pack in ${mode} mode`, () => leg.lines.length >= 1);
      await new Promise((r) => setTimeout(r, 500)); // a duplicate would have arrived by now
      for (const leg of Object.values(legs)) expect(leg.lines).toHaveLength(1);

      const source = legs.translate.lines[0].ssrc;
      expect(JSON.parse(legs.translate.lines[0].line)).toEqual([{ bn: 'urn:dev:m:', n: 'temp', v: 5 }]);
      expect(legs.translate.lines[0].csrcs).toEqual([]);
      // Mix: the relay's own SSRC, the PUBLISH source named as the one CSRC (RFC 9071).
      expect(legs.mix.lines[0].ssrc).not.toBe(source);
      expect(legs.mix.lines[0].csrcs).toEqual([source]);
      expect(JSON.parse(legs.mix.lines[0].line)).toEqual([{ bn: 'urn:dev:m:', n: 'temp', v: 5 }]);
      // Aggregate: one pack of the window with the record resolved, the source among the contributors.
      expect(legs.aggregate.lines[0].csrcs).toContain(source);
      const aggregated = JSON.parse(legs.aggregate.lines[0].line) as {
        bn?: string;
        n?: string;
        v?: number;
      }[];
      expect(
        aggregated.some((r) => `${r.bn ?? ''}${r.n ?? ''}`.endsWith('urn:dev:m:temp') && r.v === 5),
      ).toBe(true);
    } finally {
      publisher.close();
      for (const leg of Object.values(legs)) leg.close();
    }
  }, 60_000);
});
