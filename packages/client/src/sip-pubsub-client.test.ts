// The SDK against a fake focus over real UDP on 127.0.0.1: SIP signalling, SDP, and T.140/RED media.
import dgram from 'node:dgram';
import { buildConferenceInfo, type ConferenceInfo } from '@sip-pubsub/events';
import {
  createTextOffer,
  LineAssembler,
  parseRed,
  parseRtp,
  parseTextAnswer,
  type RtpPacket,
  serializeRtp,
  T140Receiver,
  T140Sender,
} from '@sip-pubsub/media';
import { formatPackLine, SenmlError, type SenmlPack } from '@sip-pubsub/senml';
import {
  createInDialogRequest,
  createResponse,
  type DialogState,
  dialogFromUasResponse,
  FakeClock,
  type Flow,
  generateTag,
  getHeader,
  parseCSeq,
  parseNameAddr,
  type ServerTransaction,
  type SipRequest,
} from '@sip-pubsub/sip';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SipPubSubError } from './errors.js';
import { conferenceUriFor, FakeFocus } from './fake-focus.testkit.js';
import { KEEPALIVE_INTERVAL_MS, KEEPALIVE_PAYLOAD_TYPE } from './media-keepalive.js';
import { T140_PAYLOAD_TYPE } from './media-offer.js';
import { SipPubSubClient } from './sip-pubsub-client.js';
import type { Watcher } from './watcher.js';

let focus: FakeFocus;
let client: SipPubSubClient;

beforeEach(async () => {
  focus = await FakeFocus.start();
  client = await SipPubSubClient.connect({ server: focus.server, requestTimeoutMs: 3200 });
});

afterEach(async () => {
  await client.close();
  await focus.close();
});

/** Text carried by the packets, decoded the way any T.140/RED receiver would. */
function linesOf(packets: RtpPacket[]): string[] {
  const receiver = new T140Receiver({ t140Pt: 98, redPt: 100 });
  const assembler = new LineAssembler();
  const lines: string[] = [];
  for (const p of packets) lines.push(...assembler.push(receiver.receive(p).text).lines);
  return lines;
}

/** Resolves once `check` returns a value; re-checked every few milliseconds (the test timeout bounds it). */
async function poll<T>(check: () => T | undefined | false): Promise<T> {
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function nextEvent<T extends unknown[]>(
  emitter: { once(event: string, fn: (...args: T) => void): unknown },
  event: string,
): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: T) => resolve(args)));
}

describe('resolveTopic', () => {
  it('INVITEs the factory with the topic in Subject and returns the 302 Contact; the 302 is ACKed', async () => {
    const uri = await client.resolveTopic('plant-7/boiler/temp');
    expect(uri).toBe(conferenceUriFor('plant-7/boiler/temp'));
    const invite = focus.requestsOf('INVITE')[0];
    expect(invite.uri).toBe('sip:factory@localhost');
    expect(getHeader(invite, 'Subject')).toBe('plant-7/boiler/temp');
    expect(invite.body.length).toBe(0);
    // §17.1.1.3: the ACK for the 302 uses the INVITE's branch and CSeq number.
    const ack = await focus.until(() => focus.requestsOf('ACK')[0]);
    expect(parseCSeq(getHeader(ack, 'CSeq') ?? '')).toEqual({
      seq: parseCSeq(getHeader(invite, 'CSeq') ?? '').seq,
      method: 'ACK',
    });
    expect(getHeader(ack, 'Via')).toBe(getHeader(invite, 'Via'));
    expect(parseNameAddr(getHeader(ack, 'To') ?? '').params.tag).toBeTruthy();
  });

  it('surfaces a refused topic as SipPubSubError with the status and reason phrase', async () => {
    const err = await client.resolveTopic('   ').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SipPubSubError);
    expect(err).toMatchObject({ status: 400, reason: 'Empty Subject (the topic)' });
    expect((err as Error).message).toContain('400 Empty Subject (the topic)');
  });

  it('reports a 408 when nobody answers within requestTimeoutMs', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
    const clock = new FakeClock();
    const lonely = await SipPubSubClient.connect({
      server: `127.0.0.1:${silent.address().port}`,
      requestTimeoutMs: 6400,
      clock,
    });
    try {
      const pending = lonely.resolveTopic('t').catch((e: unknown) => e);
      clock.advance(6400); // Timer B = 64*T1 (RFC 3261 §17.1.1.2)
      expect(await pending).toMatchObject({ status: 408 });
    } finally {
      await lonely.close();
      silent.close();
    }
  });
});

describe('Publisher', () => {
  it('joins with a sendonly offer, ACKs the 200 and sends each pack as a T.140 line with RED', async () => {
    const publisher = await client.publisher('plant-7/boiler/temp');
    expect(publisher.conferenceUri).toBe(conferenceUriFor('plant-7/boiler/temp'));
    const [participant] = focus.participants;
    expect(participant.invite.uri).toBe(publisher.conferenceUri);
    expect(getHeader(participant.invite, 'Content-Type')).toBe('application/sdp');
    expect(participant.offer).toMatchObject({
      direction: 'sendonly',
      role: 'publisher',
      t140Pt: 98,
      redPt: 100,
      redundancy: 2,
      address: '127.0.0.1',
    });
    // §13.2.2.4: the ACK for the 2xx is in the dialog, with the INVITE's CSeq number.
    const ack = await focus.until(() =>
      focus.requestsOf('ACK').find((a) => a.uri === publisher.conferenceUri),
    );
    expect(getHeader(ack, 'CSeq')).toBe(`${parseCSeq(getHeader(participant.invite, 'CSeq') ?? '').seq} ACK`);
    expect(parseNameAddr(getHeader(ack, 'To') ?? '').params.tag).toBe(participant.dialog.localTag);

    const packs: SenmlPack[] = [
      [{ bn: 'plant-7:boiler:', n: 'temp', u: 'Cel', v: 71.5 }],
      [
        { n: 'pressure', u: 'Pa', v: 180_000 },
        { n: 'valve', vb: true },
      ],
      [{ n: 'label', vs: 'b\u00f6iler \u{1F525}' }],
    ];
    for (const pack of packs) await publisher.publish(pack);
    await publisher.publishLine('not senml at all');

    const expected = [...packs.map((p) => formatPackLine(p).slice(0, -1)), 'not senml at all'];
    await focus.until(() => linesOf(focus.rtpPackets).length >= 4);
    expect(linesOf(focus.rtpPackets)).toEqual(expected);
    const first = focus.rtpPackets[0];
    expect(first).toMatchObject({ payloadType: 100, ssrc: publisher.ssrc, marker: true });
    expect(focus.rtpPackets.every((p) => p.ssrc === publisher.ssrc && p.payloadType === 100)).toBe(true);
    // RFC 2198 blocks of the first packet: two (empty) redundant generations, then the primary.
    const red = parseRed(first.payload);
    expect(red.redundant.map((b) => b.data.length)).toEqual([0, 0]);
    expect(Buffer.from(red.primary.data).toString('utf8')).toBe(formatPackLine(packs[0]));

    await publisher.close();
    await focus.until(() => focus.requestsOf('BYE')[0]);
    const bye = focus.requestsOf('BYE')[0];
    expect(bye.uri).toBe(publisher.conferenceUri);
    expect(getHeader(bye, 'Call-ID')).toBe(participant.dialog.callId);
    // Redundancy-only packets pushed the last text through both generations before the BYE.
    const tail = focus.rtpPackets.slice(-2).map((p) => parseRed(p.payload));
    expect(tail.map((r) => r.primary.data.length)).toEqual([0, 0]);
    expect(Buffer.from(tail[1].redundant[0].data).toString('utf8')).toBe('not senml at all\u2028');
  });

  it('follows a re-INVITE from the focus to a new relay address (PROFILE "Failover")', async () => {
    const publisher = await client.publisher('t/failover');
    const [participant] = focus.participants;
    const relay2 = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => relay2.bind(0, '127.0.0.1', () => resolve()));
    const arrived: RtpPacket[] = [];
    let keepAlives = 0;
    relay2.on('message', (data) => {
      const packet = parseRtp(new Uint8Array(data));
      if (packet.payloadType === KEEPALIVE_PAYLOAD_TYPE) keepAlives += 1;
      else arrived.push(packet);
    });
    try {
      const offer = createTextOffer({
        address: '127.0.0.1',
        port: relay2.address().port,
        direction: 'recvonly',
      });
      const reinvite = createInDialogRequest(participant.dialog, 'INVITE', {
        headers: [{ name: 'Contact', value: `<${publisher.conferenceUri}>;isfocus` }],
        body: offer,
        contentType: 'application/sdp',
      });
      const res = await focus.send(reinvite, participant.flow);
      expect(res.status).toBe(200);
      const ack = createInDialogRequest(participant.dialog, 'ACK', { cseq: participant.dialog.localSeq });
      const { flow } = participant;
      await focus.layer.sendStateless(ack, {
        transport: flow.transport,
        host: flow.remoteHost,
        port: flow.remotePort,
      });
      // The answer keeps our role: the focus offered recvonly, we answer sendonly (RFC 3264 §6.1).
      expect(parseTextAnswer(res.body.toString('utf8'))).toMatchObject({
        direction: 'sendonly',
        port: participant.offer.port,
      });
      await publisher.publish([{ n: 'moved', v: 1 }]);
      await poll(() => arrived.length >= 1);
      expect(arrived[0].ssrc).toBe(publisher.ssrc);
      expect(focus.rtpPackets).toHaveLength(0);
      // The new relay heard from us at once: it sends nothing before that (README "Media consent").
      expect(keepAlives).toBeGreaterThanOrEqual(1);
    } finally {
      relay2.close();
    }
  });

  it('refuses an invalid pack with SenmlError before anything is sent', async () => {
    const publisher = await client.publisher('t/invalid');
    await expect(publisher.publish([{ n: 'a b', v: 1 }])).rejects.toBeInstanceOf(SenmlError);
    await expect(publisher.publish([{ n: 'x', v: 1, vs: 'two values' }])).rejects.toBeInstanceOf(SenmlError);
    await publisher.publish([{ n: 'ok', v: 1 }]);
    await focus.until(() => linesOf(focus.rtpPackets).length >= 1);
    expect(linesOf(focus.rtpPackets)).toEqual(['[{"n":"ok","v":1}]']);
  });

  it('collects text for bufferMs and sends it in one packet (RFC 4103 §5.1)', async () => {
    const publisher = await client.publisher('t/buffered', { bufferMs: 30, redundancy: 0 });
    expect(focus.participants[0].offer.redPt).toBeUndefined();
    await Promise.all([publisher.publish([{ n: 'a', v: 1 }]), publisher.publish([{ n: 'b', v: 2 }])]);
    await focus.until(() => focus.rtpPackets.length >= 1);
    expect(focus.rtpPackets).toHaveLength(1);
    expect(focus.rtpPackets[0].payloadType).toBe(98);
    expect(Buffer.from(focus.rtpPackets[0].payload).toString('utf8')).toBe(
      '[{"n":"a","v":1}]\u2028[{"n":"b","v":2}]\u2028',
    );
  });

  it('reports a refused join as SipPubSubError with the Warning text', async () => {
    focus.refusingTopics.add('t/refused');
    const err = await client.publisher('t/refused').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SipPubSubError);
    expect(err).toMatchObject({
      status: 488,
      reason: 'Not Acceptable Here',
      warning: 'no m=text media line',
    });
  });
});

describe('Subscriber', () => {
  async function sendFromRelay(to: { address: string; port: number }, packets: RtpPacket[]): Promise<void> {
    for (const p of packets) {
      await new Promise<void>((resolve, reject) =>
        focus.rtp.send(serializeRtp(p), to.port, to.address, (err) => (err ? reject(err) : resolve())),
      );
    }
  }

  it('joins with a recvonly offer and emits the packs of each publisher in order', async () => {
    const subscriber = await client.subscriber('plant-7/boiler/temp');
    const [participant] = focus.participants;
    expect(participant.offer).toMatchObject({
      direction: 'recvonly',
      role: 'subscriber',
      t140Pt: 98,
      redPt: 100,
    });

    const received: { pack: SenmlPack; ssrc: number }[] = [];
    const invalid: string[] = [];
    subscriber.on('pack', (pack, meta) => received.push({ pack, ssrc: meta.ssrc }));
    subscriber.on('invalid', (line, err) => {
      expect(err).toBeInstanceOf(SenmlError);
      invalid.push(line);
    });

    // Two publishers as the relay forwards them in translate mode: their own SSRCs and sequence numbers.
    const a = new T140Sender({ ssrc: 0xa, t140Pt: 98, redPt: 100 });
    const b = new T140Sender({ ssrc: 0xb, t140Pt: 98, redPt: 100 });
    const line = (n: string, v: number) => formatPackLine([{ n, v }]);
    const packets = [
      ...a.send(line('a1', 1), 0),
      ...b.send(line('b1', 10).slice(0, 6), 1),
      ...a.send(line('a2', 2), 2),
      ...b.send(line('b1', 10).slice(6), 3),
      ...b.send('{oops}\u2028', 4),
      ...a.drain(5),
      ...a.send(line('a3', 3), 6),
    ];
    await sendFromRelay(participant.offer, packets);
    await poll(() => received.length >= 4 && invalid.length >= 1);
    expect(received).toEqual([
      { pack: [{ n: 'a1', v: 1 }], ssrc: 0xa },
      { pack: [{ n: 'a2', v: 2 }], ssrc: 0xa },
      { pack: [{ n: 'b1', v: 10 }], ssrc: 0xb },
      { pack: [{ n: 'a3', v: 3 }], ssrc: 0xa },
    ]);
    expect(invalid).toEqual(['{oops}']);

    await subscriber.close();
    const bye = await focus.until(() => focus.requestsOf('BYE')[0]);
    expect(getHeader(bye, 'Call-ID')).toBe(participant.dialog.callId);
  });

  it('gives the relay media consent: an RFC 6263 keep-alive from its RTP port at join and every interval, none after close', async () => {
    const clock = new FakeClock(1_000);
    const timed = await SipPubSubClient.connect({ server: focus.server, requestTimeoutMs: 3200, clock });
    try {
      const subscriber = await timed.subscriber('t/consent');
      const [participant] = focus.participants;
      await poll(() => focus.keepAlives.length >= 1);
      expect(focus.keepAlives[0].port).toBe(participant.offer.port);
      // A subscriber's keep-alive is an empty packet of its negotiated T.140 type (README "Symmetric RTP").
      expect(focus.keepAlives[0].packet).toMatchObject({
        payloadType: T140_PAYLOAD_TYPE,
        payload: new Uint8Array(0),
      });
      clock.advance(KEEPALIVE_INTERVAL_MS);
      clock.advance(KEEPALIVE_INTERVAL_MS);
      await poll(() => focus.keepAlives.length >= 3);
      const [a, b, c] = focus.keepAlives.map((k) => k.packet);
      expect([b.sequenceNumber, c.sequenceNumber]).toEqual([
        (a.sequenceNumber + 1) & 0xffff,
        (a.sequenceNumber + 2) & 0xffff,
      ]);
      expect(new Set([a.ssrc, b.ssrc, c.ssrc]).size).toBe(1);
      const closing = subscriber.close();
      clock.advance(1_000);
      await closing.catch(() => {});
      const sent = focus.keepAlives.length;
      clock.advance(3 * KEEPALIVE_INTERVAL_MS);
      await new Promise((r) => setTimeout(r, 50));
      expect(focus.keepAlives).toHaveLength(sent);
    } finally {
      await timed.close();
    }
  });

  it('reports loss that redundancy cannot repair', async () => {
    const subscriber = await client.subscriber('t/lossy');
    const [participant] = focus.participants;
    const losses: { lost: number; damagedLines: number }[] = [];
    const packs: string[] = [];
    subscriber.on('loss', (info) => losses.push(info));
    subscriber.on('pack', (_pack, meta) => packs.push(meta.line));
    const s = new T140Sender({ ssrc: 5, t140Pt: 98, redPt: 100 });
    const all: RtpPacket[] = [];
    for (let i = 0; i < 8; i++) all.push(...s.send(formatPackLine([{ n: `r${i}`, v: i }]), i));
    // Packets 2, 3 and 4 never arrive: one more than two generations of redundancy can fill.
    await sendFromRelay(
      participant.offer,
      all.filter((_, i) => i < 2 || i > 4),
    );
    await poll(() => packs.length >= 6);
    // Packet 5's redundancy brings back 3 and 4 but not 2; r2's separator went with it, so the gap
    // marker joins the line ending after r3: that line is dropped, everything after it is intact.
    expect(packs).toEqual([0, 1, 4, 5, 6, 7].map((i) => `[{"n":"r${i}","v":${i}}]`));
    expect(losses.reduce((n, l) => n + l.lost, 0)).toBe(1);
    expect(losses.reduce((n, l) => n + l.damagedLines, 0)).toBe(1);
  });

  it('closes when the focus ends the dialog with BYE', async () => {
    const subscriber = await client.subscriber('t/kicked');
    const [participant] = focus.participants;
    const closed = nextEvent(subscriber, 'close');
    const bye = focus.notify(participant.dialog, 'x'); // any in-dialog request shape; rewritten below
    bye.method = 'BYE';
    bye.headers = bye.headers.filter((h) => !['Event', 'Subscription-State', 'Contact'].includes(h.name));
    const cseq = getHeader(bye, 'CSeq') ?? '';
    bye.headers = bye.headers.map((h) =>
      h.name === 'CSeq' ? { name: 'CSeq', value: cseq.replace('NOTIFY', 'BYE') } : h,
    );
    const res = await focus.send(bye, participant.flow);
    expect(res.status).toBe(200);
    expect(await closed).toEqual(['remote']);
    expect(subscriber.closed).toBe(true);
  });
});

describe('Watcher', () => {
  const conf = conferenceUriFor('plant-7/boiler/temp');
  const doc = (version: number, state: ConferenceInfo['state'], users: ConferenceInfo['users']): string =>
    buildConferenceInfo({ entity: conf, state, version, subject: 'plant-7/boiler/temp', users });
  const alice = {
    entity: 'sip:alice@example.com',
    state: 'full' as const,
    role: 'publisher' as const,
    endpoints: [],
  };
  const bob = {
    entity: 'sip:bob@example.com',
    state: 'full' as const,
    role: 'subscriber' as const,
    endpoints: [],
  };

  /** A notifier for one subscription: answers SUBSCRIBEs, keeps the dialog, lets the test send NOTIFYs. */
  function fakeNotifier(opts: { earlyNotify?: string } = {}) {
    const state: { dialog?: DialogState; flow?: Flow; subscribes: SipRequest[] } = { subscribes: [] };
    const responders: ((req: SipRequest, tx: ServerTransaction) => void)[] = [];
    focus.onSubscribe = (req, tx, flow) => {
      state.subscribes.push(req);
      const next = responders.shift();
      if (next) {
        next(req, tx);
        return;
      }
      const res = createResponse(req, 200, 'OK', {
        toTag: state.dialog?.localTag ?? generateTag(),
        headers: [
          { name: 'Expires', value: getHeader(req, 'Expires') ?? '3600' },
          { name: 'Contact', value: `<${conf}>;isfocus` },
        ],
      });
      if (!state.dialog) {
        state.dialog = dialogFromUasResponse(req, res);
        state.flow = flow;
        if (opts.earlyNotify !== undefined) {
          // RFC 6665 §4.1.2.4: the NOTIFY may overtake the 200; send it first, answer after.
          void focus
            .send(focus.notify(state.dialog, 'active;expires=3600', opts.earlyNotify), flow)
            .then(() => tx.respond(res));
          return;
        }
      }
      tx.respond(res);
    };
    return { state, responders };
  }

  it('takes a NOTIFY that arrives before the 200, then partial updates, and unsubscribes on close', async () => {
    const { state } = fakeNotifier({ earlyNotify: doc(1, 'full', [alice]) });
    const watcher = await client.watch('plant-7/boiler/temp', { expires: 600 });
    expect(watcher.conferenceUri).toBe(conf);
    const sub = state.subscribes[0];
    expect(getHeader(sub, 'Event')).toBe('conference');
    expect(getHeader(sub, 'Expires')).toBe('600');
    expect(getHeader(sub, 'Accept')).toBe('application/conference-info+xml');
    // The early NOTIFY was taken and answered 200 before watch() resolved.
    expect(watcher.state?.users.map((u) => u.entity)).toEqual(['sip:alice@example.com']);

    const dialog = state.dialog!;
    const flow = state.flow!;
    const notified = nextEvent<[ConferenceInfo, ConferenceInfo]>(watcher as Watcher, 'notify');
    const res = await focus.send(focus.notify(dialog, 'active;expires=590', doc(2, 'partial', [bob])), flow);
    expect(res.status).toBe(200);
    const [partial, view] = await notified;
    expect(partial).toMatchObject({ state: 'partial', version: 2 });
    expect(view.users.map((u) => u.entity)).toEqual(['sip:alice@example.com', 'sip:bob@example.com']);
    expect(watcher.state).toEqual(view);

    const terminated = nextEvent<[string]>(watcher as Watcher, 'terminated');
    const closing = watcher.close();
    const unsubscribe = await focus.until(() => state.subscribes[1]);
    expect(getHeader(unsubscribe, 'Expires')).toBe('0');
    expect(parseNameAddr(getHeader(unsubscribe, 'To') ?? '').params.tag).toBe(dialog.localTag);
    expect(getHeader(unsubscribe, 'Call-ID')).toBe(dialog.callId);
    await closing;
    await focus.send(focus.notify(dialog, 'terminated;reason=timeout', doc(3, 'full', [alice, bob])), flow);
    expect(await terminated).toEqual(['timeout']);
    expect(watcher.terminated).toBe(true);
  });

  it('refreshes for full state when a partial NOTIFY skips a version (RFC 4575 §4.6)', async () => {
    const { state } = fakeNotifier();
    const watcher = await client.watch('plant-7/boiler/temp');
    const dialog = state.dialog!;
    const flow = state.flow!;
    await focus.send(focus.notify(dialog, 'active;expires=3600', doc(1, 'full', [alice])), flow);
    const notifies: number[] = [];
    watcher.on('notify', (d) => notifies.push(d.version));
    await focus.send(focus.notify(dialog, 'active;expires=3600', doc(3, 'partial', [bob])), flow);
    const refresh = await focus.until(() => state.subscribes[1]);
    expect(parseNameAddr(getHeader(refresh, 'To') ?? '').params.tag).toBe(dialog.localTag);
    expect(getHeader(refresh, 'Expires')).toBe('3600');
    await focus.send(focus.notify(dialog, 'active;expires=3600', doc(4, 'full', [alice, bob])), flow);
    await focus.until(() => notifies.includes(4) || undefined);
    expect(notifies).toEqual([4]);
    expect(watcher.state?.users.map((u) => u.entity)).toEqual([
      'sip:alice@example.com',
      'sip:bob@example.com',
    ]);
  });

  it('refreshes the subscription before it expires', async () => {
    const clock = new FakeClock(1_000_000);
    const timed = await SipPubSubClient.connect({ server: focus.server, clock });
    try {
      const { state } = fakeNotifier();
      await timed.watch('plant-7/boiler/temp', { expires: 120 });
      expect(state.subscribes).toHaveLength(1);
      clock.advance(59_000);
      expect(state.subscribes).toHaveLength(1);
      clock.advance(1_000); // 60 s: halfway through 120 s
      const refresh = await focus.until(() => state.subscribes[1]);
      expect(getHeader(refresh, 'Expires')).toBe('120');
      expect(parseNameAddr(getHeader(refresh, 'To') ?? '').params.tag).toBe(state.dialog?.localTag);
    } finally {
      let closed = false;
      const closing = timed.close().then(() => {
        closed = true;
      });
      // close() waits for the final NOTIFY on the injected clock; this notifier never sends one.
      await poll(() => {
        clock.advance(500);
        return closed;
      });
      await closing;
    }
  });

  it('reports a refused subscription as SipPubSubError', async () => {
    const err = await client.watch('plant-7/boiler/temp').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SipPubSubError);
    expect(err).toMatchObject({ status: 489, reason: 'Bad Event' });
  });
});

describe('SipPubSubClient.close', () => {
  it('leaves every conference and ends every subscription it made', async () => {
    const { state } = (() => {
      const s: { subscribes: SipRequest[] } = { subscribes: [] };
      focus.onSubscribe = (req, tx) => {
        s.subscribes.push(req);
        tx.respond(
          createResponse(req, 200, 'OK', {
            toTag: 'n1',
            headers: [
              { name: 'Expires', value: '3600' },
              { name: 'Contact', value: '<sip:conf-x@localhost>' },
            ],
          }),
        );
      };
      return { state: s };
    })();
    await client.publisher('a');
    await client.subscriber('b');
    await client.watch('c');
    await client.close();
    expect(focus.requestsOf('BYE')).toHaveLength(2);
    expect(state.subscribes.map((s) => getHeader(s, 'Expires'))).toEqual(['3600', '0']);
  });
});

describe('over TCP', () => {
  it('resolves a topic and joins as a publisher', async () => {
    const tcpFocus = await FakeFocus.start('tcp');
    const tcpClient = await SipPubSubClient.connect({ server: tcpFocus.server, transport: 'tcp' });
    try {
      const publisher = await tcpClient.publisher('t/tcp');
      expect(getHeader(tcpFocus.requestsOf('INVITE')[1], 'Via')).toMatch(/^SIP\/2\.0\/TCP /);
      expect(getHeader(tcpFocus.participants[0].invite, 'Contact')).toMatch(/;transport=tcp>$/);
      await publisher.publish([{ n: 'x', v: 1 }]);
      await tcpFocus.until(() => linesOf(tcpFocus.rtpPackets).length >= 1);
      expect(linesOf(tcpFocus.rtpPackets)).toEqual(['[{"n":"x","v":1}]']);
    } finally {
      await tcpClient.close();
      await tcpFocus.close();
    }
  });
});
