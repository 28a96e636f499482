// The focus ends dialogs nobody else ends: a 2xx never ACKed (the edge's DialogFailed), a session timer
// that ran out (RFC 4028), a leg its relay closed for silence (pubsub.legs.closed.*). Each frees the leg,
// deletes the record, announces `left` and sends a BYE through the edge.
import { classifyUri } from '@sip-pubsub/events';
import { createLogger, InProcessBus, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import {
  conferenceRecordSchema,
  counterSchema,
  decodeEvent,
  encodeEvent,
  type IndexRecord,
  indexRecordSchema,
  type LegSpec,
  legClosedSchema,
  type ParticipantRecord,
  participantKey,
  participantRecordSchema,
  type RosterEvent,
  rosterEventSchema,
  rosterIndexKey,
  subjects,
  topicRecordSchema,
} from '@sip-pubsub/proto';
import {
  createRequest,
  type Flow,
  getHeader,
  type HeaderField,
  parseNameAddr,
  type SipRequest,
  type SipResponse,
} from '@sip-pubsub/sip';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DialogEnding } from './dialog-ending.js';
import type { SentRequestOutcome } from './failover.js';
import { Focus, legIdOf } from './focus.js';
import type { PlacedLeg, RelayDirectory } from './relays.js';

/** A relay directory that counts the legs it holds, like a relay's port pool. */
class CountingRelays implements RelayDirectory {
  readonly held = new Set<string>();
  released: string[] = [];
  private nextPort = 30_000;
  async allocate(spec: LegSpec): Promise<PlacedLeg> {
    this.held.add(spec.legId!);
    return { relayId: 'relay-a', relayAddress: '127.0.0.1:7001', host: '192.0.2.20', port: this.nextPort++ };
  }
  async update(): Promise<void> {}
  async release(_address: string, _conferenceId: string, legId: string): Promise<boolean> {
    this.released.push(legId);
    return this.held.delete(legId);
  }
}

const FLOW = { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5080, edgeId: 'edge-1' };
const SDP = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=text 41000 RTP/AVP 98',
  'a=rtpmap:98 t140/1000',
  'a=recvonly',
  '',
].join('\r\n');

describe('DialogEnding with the Focus', () => {
  let bus: InProcessBus;
  let relays: CountingRelays;
  let participants: JsonBucket<ParticipantRecord>;
  let indexes: JsonBucket<IndexRecord>;
  /** Legs the conference's roster index listed when each roster event arrived. */
  let indexedAtEvent: string[][];
  let focus: Focus;
  let dialogs: DialogEnding;
  let roster: RosterEvent[];
  let sent: { request: SipRequest; flow: Flow }[];
  let owned: boolean;
  let clock: number;
  /** Status the participant answers the focus's requests with. */
  let reply: number;

  beforeEach(async () => {
    bus = new InProcessBus();
    const kv = new InProcessKvStore();
    relays = new CountingRelays();
    roster = [];
    sent = [];
    owned = true;
    clock = 1_000_000;
    reply = 200;
    participants = new JsonBucket(await kv.bucket('participants'), participantRecordSchema);
    indexes = new JsonBucket(await kv.bucket('indexes'), indexRecordSchema);
    indexedAtEvent = [];
    bus.subscribe(subjects.rosterAll, (m) => {
      const e = decodeEvent(rosterEventSchema, m.data);
      if (!e.ok) return;
      roster.push(e.value);
      // What a notifier reading the index on this event would see (read at once, as it does).
      void indexes
        .get(rosterIndexKey(e.value.conferenceId))
        .then((r) => indexedAtEvent.push(Object.keys(r?.value.members ?? {})));
    });
    const logger = createLogger('test', { level: 'silent' });
    dialogs = new DialogEnding({
      domain: 'example.net',
      participants,
      indexes,
      relays,
      send: async (request, flow): Promise<SentRequestOutcome> => {
        sent.push({ request, flow });
        return { status: reply, reason: 'whatever' };
      },
      bus,
      logger,
      owns: () => owned,
      now: () => clock,
    }).follow(bus);
    focus = new Focus({
      domain: 'example.net',
      onExistingTopic: 'redirect',
      invalidData: 'drop',
      maxConferences: 10,
      maxLegsPerConference: 10,
      stores: {
        conferences: new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema),
        topics: new JsonBucket(await kv.bucket('topics'), topicRecordSchema),
        participants,
        counters: new JsonBucket(await kv.bucket('counters'), counterSchema),
        indexes,
      },
      bus,
      relays,
      logger,
      mediaHost: '192.0.2.1',
      now: () => clock,
      sessionTimer: { minSeconds: 90, preferredSeconds: 1_800 },
      sessionDeadlines: dialogs,
    });
  });
  afterEach(async () => {
    dialogs.stop();
    vi.useRealTimers();
    await bus.close();
  });

  const request = (
    method: string,
    uri: string,
    opts: { callId?: string; fromTag?: string; toTag?: string; cseq?: number; headers?: HeaderField[] } = {},
    body?: string,
  ): SipRequest =>
    createRequest({
      method,
      uri,
      from: { uri: 'sip:meter@example.org', params: { tag: opts.fromTag ?? 'meter-tag' } },
      to: { uri, params: opts.toTag ? { tag: opts.toTag } : {} },
      callId: opts.callId ?? 'call-1',
      cseq: opts.cseq ?? 1,
      contact: { uri: 'sip:meter@127.0.0.1:5080', params: {} },
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKend1' },
        ...(opts.headers ?? []),
      ],
      ...(body ? { body, contentType: 'application/sdp' } : {}),
    });
  const handle = async (req: SipRequest): Promise<SipResponse> => {
    const res = await focus.handle(req, FLOW);
    if (!res) throw new Error('no response');
    return res;
  };
  const conference = async (): Promise<{ uri: string; id: string }> => {
    const res = await handle(
      request('INVITE', 'sip:factory@example.net', { headers: [{ name: 'Subject', value: 'plant/1' }] }),
    );
    const uri = parseNameAddr(getHeader(res, 'Contact')!).uri;
    const target = classifyUri(uri);
    if (target.kind !== 'conference') throw new Error(`not a conference URI: ${uri}`);
    return { uri, id: target.conferenceId };
  };
  const join = async (uri: string, headers: HeaderField[] = [], callId = 'call-1') => {
    const ok = await handle(request('INVITE', uri, { callId, headers }, SDP));
    expect(ok.status).toBe(200);
    return { ok, toTag: parseNameAddr(getHeader(ok, 'To')!).params.tag! };
  };
  const settle = async () => {
    await bus.flush();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };

  it('ends a dialog whose 2xx was never ACKed: BYE in the dialog, leg released, record gone, roster left', async () => {
    const conf = await conference();
    const { toTag } = await join(conf.uri);
    expect(relays.held.size).toBe(1);
    const report = {
      callId: 'call-1',
      localTag: toTag,
      remoteTag: 'meter-tag',
      cseq: 1,
      routingKey: conf.id,
      reason: 'no ACK for 2xx within 64*T1',
    };
    expect(await dialogs.dialogFailed(report)).toBe(true);
    expect(relays.held.size).toBe(0);
    expect(await participants.get(participantKey(conf.id, legIdOf('call-1', 'meter-tag')))).toBeNull();
    expect(sent).toHaveLength(1);
    const bye = sent[0].request;
    expect(bye.method).toBe('BYE');
    expect(bye.uri).toBe('sip:meter@127.0.0.1:5080');
    expect(parseNameAddr(getHeader(bye, 'From')!).params.tag).toBe(toTag);
    expect(parseNameAddr(getHeader(bye, 'To')!).params.tag).toBe('meter-tag');
    expect(getHeader(bye, 'Reason')).toBe('SIP ;cause=408 ;text="no ACK for 2xx within 64*T1"');
    expect(sent[0].flow).toMatchObject({ remoteHost: '127.0.0.1', remotePort: 5080, edgeId: 'edge-1' });
    await settle();
    expect(roster.map((e) => e.type)).toEqual(['joined', 'left']);
    // The notifier builds the roster from the index: by the `left` event the leg is out of it.
    expect(indexedAtEvent.at(-1)).toEqual([]);
    // A second report (another edge, a retry) finds nothing to end.
    expect(await dialogs.dialogFailed(report)).toBe(false);
    expect(sent).toHaveLength(1);
  });

  it('ignores a no-ACK report for a 2xx whose ACK reached the focus through another edge', async () => {
    const conf = await conference();
    const { toTag } = await join(conf.uri);
    const ack = request('ACK', conf.uri, { toTag, cseq: 1 });
    expect(await focus.handle(ack, { ...FLOW, edgeId: 'edge-2' })).toBeNull();
    const report = {
      callId: 'call-1',
      localTag: toTag,
      remoteTag: 'meter-tag',
      cseq: 1,
      routingKey: conf.id,
      reason: 'no ACK',
    };
    expect(await dialogs.dialogFailed(report)).toBe(false);
    expect(relays.held.size).toBe(1);
    expect(sent).toHaveLength(0);
    // The ACK covered CSeq 1 only: an unACKed re-INVITE (CSeq 2) still ends the dialog.
    expect(await dialogs.dialogFailed({ ...report, cseq: 2 })).toBe(true);
    expect(relays.held.size).toBe(0);
  });

  it('tries the relay release once more when the first call fails', async () => {
    const conf = await conference();
    const { toTag } = await join(conf.uri);
    const release = vi.spyOn(relays, 'release').mockRejectedValueOnce(new Error('UNAVAILABLE'));
    const report = {
      callId: 'call-1',
      localTag: toTag,
      remoteTag: 'meter-tag',
      cseq: 1,
      routingKey: conf.id,
      reason: 'no ACK',
    };
    expect(await dialogs.dialogFailed(report)).toBe(true);
    expect(release).toHaveBeenCalledTimes(2);
    expect(relays.held.size).toBe(0);
  });

  it('leaves a dialog alone when the report names another tag', async () => {
    const conf = await conference();
    await join(conf.uri);
    const ended = await dialogs.dialogFailed({
      callId: 'call-1',
      localTag: 'not-ours',
      remoteTag: 'meter-tag',
      cseq: 1,
      routingKey: conf.id,
      reason: 'no ACK',
    });
    expect(ended).toBe(false);
    expect(relays.held.size).toBe(1);
    expect(sent).toHaveLength(0);
  });

  it('ends the participant of a leg its relay closed (pubsub.legs.closed.<relay>), only when owned and on that relay', async () => {
    const conf = await conference();
    await join(conf.uri, [], 'call-1');
    await join(conf.uri, [], 'call-2');
    const legId = legIdOf('call-1', 'meter-tag');
    const publish = (relayId: string, leg: string) =>
      bus.publish(
        subjects.legClosed(relayId),
        encodeEvent(legClosedSchema, {
          relayId,
          conferenceId: conf.id,
          legId: leg,
          reason: 'silent',
          at: clock,
        }),
      );
    // Another relay's leg id (the participant moved), and a conference another replica owns: ignored.
    publish('relay-b', legId);
    owned = false;
    publish('relay-a', legId);
    bus.publish(subjects.legClosed('relay-a'), new TextEncoder().encode('{"not":"an event"}'));
    await settle();
    expect(relays.held.size).toBe(2);
    owned = true;
    publish('relay-a', legId);
    await settle();
    await vi.waitFor(async () => expect(await participants.get(participantKey(conf.id, legId))).toBeNull());
    expect(relays.released).toEqual([legId]);
    expect(sent.map((s) => s.request.method)).toEqual(['BYE']);
    expect(getHeader(sent[0].request, 'Call-ID')).toBe('call-1');
    expect(roster.filter((e) => e.type === 'left').map((e) => e.participant.legId)).toEqual([legId]);
  });

  it('answers a timer-capable INVITE with Session-Expires and Require: timer, and ends it when no refresh comes', async () => {
    vi.useFakeTimers();
    const conf = await conference();
    const { ok } = await join(conf.uri, [
      { name: 'Supported', value: 'timer' },
      { name: 'Session-Expires', value: '120;refresher=uac' },
    ]);
    expect(getHeader(ok, 'Session-Expires')).toBe('120;refresher=uac');
    expect(getHeader(ok, 'Require')).toBe('timer');
    expect(getHeader(ok, 'Supported')).toMatch(/\btimer\b/);
    expect(dialogs.armedTimers).toBe(1);
    // §10: the non-refresher BYEs min(32 s, SE/3) before expiry: at 120 - 32 = 88 s.
    clock += 87_000;
    await vi.advanceTimersByTimeAsync(87_000);
    expect(relays.held.size).toBe(1);
    clock += 1_000;
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.waitFor(() => expect(relays.held.size).toBe(0));
    expect(sent.map((s) => s.request.method)).toEqual(['BYE']);
    expect(getHeader(sent[0].request, 'Reason')).toMatch(/no session refresh within 120 s/);
  });

  it('lets a replica that takes the conference over arm the session timers it did not set', async () => {
    vi.useFakeTimers();
    const conf = await conference();
    await join(conf.uri, [
      { name: 'Supported', value: 'timer' },
      { name: 'Session-Expires', value: '120' },
    ]);
    dialogs.stop(); // the replica that answered is gone, with its timers
    const heir = new DialogEnding({
      domain: 'example.net',
      participants,
      relays,
      send: async (request, flow) => {
        sent.push({ request, flow });
        return { status: 200, reason: 'OK' };
      },
      bus,
      logger: createLogger('test', { level: 'silent' }),
      owns: () => true,
      now: () => clock,
    });
    expect(await heir.adoptOwned()).toBe(1);
    expect(await heir.adoptOwned()).toBe(0);
    clock += 88_000;
    await vi.advanceTimersByTimeAsync(88_000);
    await vi.waitFor(() => expect(relays.held.size).toBe(0));
    expect(sent.map((s) => s.request.method)).toEqual(['BYE']);
    heir.stop();
  });

  it('arms, on AdoptSessionTimer, the deadline of a participant another replica stored, only when it owns the conference', async () => {
    vi.useFakeTimers();
    const conf = await conference();
    const { ok } = await join(conf.uri, [
      { name: 'Supported', value: 'timer' },
      { name: 'Session-Expires', value: '120' },
    ]);
    dialogs.stop(); // the replica that answered (the factory's owner) keeps no timer of the conference
    const legId = legIdOf(getHeader(ok, 'Call-ID')!, 'meter-tag');
    let ownsIt = false;
    const owner = new DialogEnding({
      domain: 'example.net',
      participants,
      relays,
      send: async (request, flow) => {
        sent.push({ request, flow });
        return { status: 200, reason: 'OK' };
      },
      bus,
      logger: createLogger('test', { level: 'silent' }),
      owns: () => ownsIt,
      now: () => clock,
    });
    expect(await owner.adopt(conf.id, legId)).toBe(false);
    ownsIt = true;
    expect(await owner.adopt(conf.id, 'no-such-leg')).toBe(false);
    expect(await owner.adopt(conf.id, legId)).toBe(true);
    expect(owner.armedTimers).toBe(1);
    clock += 88_000;
    await vi.advanceTimersByTimeAsync(88_000);
    await vi.waitFor(() => expect(relays.held.size).toBe(0));
    expect(sent.map((s) => s.request.method)).toEqual(['BYE']);
    owner.stop();
  });

  it('refreshes with UPDATE at half the interval when it is the refresher, and ends the dialog when a refresh gets 481', async () => {
    vi.useFakeTimers();
    const conf = await conference();
    const { ok, toTag } = await join(conf.uri, [
      { name: 'Supported', value: 'timer' },
      { name: 'Allow', value: 'INVITE, ACK, BYE, UPDATE' },
      { name: 'Session-Expires', value: '120;refresher=uas' },
    ]);
    expect(getHeader(ok, 'Session-Expires')).toBe('120;refresher=uas');
    expect(getHeader(ok, 'Require')).toBeUndefined();
    clock += 59_000;
    await vi.advanceTimersByTimeAsync(59_000);
    expect(sent).toHaveLength(0);
    clock += 1_000;
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    const update = sent[0].request;
    expect(update.method).toBe('UPDATE');
    expect(getHeader(update, 'CSeq')).toBe('1 UPDATE');
    expect(getHeader(update, 'Session-Expires')).toBe('120;refresher=uas');
    expect(parseNameAddr(getHeader(update, 'From')!).params.tag).toBe(toTag);
    expect(update.body.length).toBe(0);
    // Renewed: the next refresh is 60 s after this one, with the next CSeq; it gets 481 and ends the dialog.
    reply = 481;
    clock += 60_000;
    await vi.advanceTimersByTimeAsync(60_000);
    await vi.waitFor(() => expect(relays.held.size).toBe(0));
    expect(sent.map((x) => getHeader(x.request, 'CSeq'))).toEqual(['1 UPDATE', '2 UPDATE', '3 BYE']);
  });

  it('leaves an UPDATE-refused refresh to expire at the end of the interval', async () => {
    vi.useFakeTimers();
    const conf = await conference();
    // No `timer` support: §9 makes the focus the refresher; its Allow says UPDATE works.
    await join(conf.uri, [
      { name: 'Allow', value: 'INVITE, ACK, BYE, UPDATE' },
      { name: 'Session-Expires', value: '120' },
    ]);
    reply = 500;
    clock += 60_000;
    await vi.advanceTimersByTimeAsync(60_000);
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(relays.held.size).toBe(1);
    clock += 60_000;
    await vi.advanceTimersByTimeAsync(60_000);
    await vi.waitFor(() => expect(relays.held.size).toBe(0));
    expect(sent.map((x) => x.request.method)).toEqual(['UPDATE', 'BYE']);
  });

  it('runs no timer it would have to refresh when the peer does not allow UPDATE', async () => {
    const conf = await conference();
    const { ok } = await join(conf.uri, [
      { name: 'Supported', value: 'timer' },
      { name: 'Session-Expires', value: '120;refresher=uas' },
    ]);
    expect(getHeader(ok, 'Session-Expires')).toBeUndefined();
    expect(dialogs.armedTimers).toBe(0);
  });

  it('drops a deadline of a conference it no longer owns (its new owner adopts it)', async () => {
    vi.useFakeTimers();
    const conf = await conference();
    await join(conf.uri, [
      { name: 'Supported', value: 'timer' },
      { name: 'Session-Expires', value: '120' },
    ]);
    owned = false;
    clock += 100_000;
    await vi.advanceTimersByTimeAsync(100_000);
    expect(relays.held.size).toBe(1);
    expect(sent).toHaveLength(0);
    expect(dialogs.armedTimers).toBe(0);
  });

  it('takes an UPDATE without SDP as a session refresh that moves the deadline', async () => {
    vi.useFakeTimers();
    const conf = await conference();
    const { toTag } = await join(conf.uri, [
      { name: 'Supported', value: 'timer' },
      { name: 'Session-Expires', value: '120' },
    ]);
    clock += 60_000;
    await vi.advanceTimersByTimeAsync(60_000);
    const refresh = await handle(
      request('UPDATE', conf.uri, {
        toTag,
        cseq: 2,
        headers: [
          { name: 'Supported', value: 'timer' },
          { name: 'Session-Expires', value: '120;refresher=uac' },
        ],
      }),
    );
    expect(refresh.status).toBe(200);
    expect(getHeader(refresh, 'Session-Expires')).toBe('120;refresher=uac');
    // The first deadline (88 s after the join) passes without an ending: the refresh at 60 s moved it to 148 s.
    clock += 40_000;
    await vi.advanceTimersByTimeAsync(40_000);
    expect(relays.held.size).toBe(1);
    clock += 50_000;
    await vi.advanceTimersByTimeAsync(50_000);
    await vi.waitFor(() => expect(relays.held.size).toBe(0));
    // An UPDATE in no dialog, or with an old CSeq, is refused.
    expect((await handle(request('UPDATE', conf.uri, { cseq: 3 }))).status).toBe(481);
  });

  it('refuses a Session-Expires below Min-SE with 422 before taking a relay port', async () => {
    const conf = await conference();
    const res = await handle(
      request(
        'INVITE',
        conf.uri,
        {
          headers: [
            { name: 'Supported', value: 'timer' },
            { name: 'Session-Expires', value: '30' },
          ],
        },
        SDP,
      ),
    );
    expect(res.status).toBe(422);
    expect(getHeader(res, 'Min-SE')).toBe('90');
    expect(relays.held.size).toBe(0);
  });

  it('asks for its own interval when the caller supports timers without asking, and none otherwise', async () => {
    const conf = await conference();
    const asked = await join(
      conf.uri,
      [
        { name: 'Supported', value: 'timer' },
        { name: 'Min-SE', value: '2000' },
      ],
      'c-a',
    );
    expect(getHeader(asked.ok, 'Session-Expires')).toBe('2000;refresher=uac');
    const plain = await join(conf.uri, [{ name: 'Session-Expires', value: '600' }], 'c-b');
    expect(getHeader(plain.ok, 'Session-Expires')).toBeUndefined();
    expect(getHeader(plain.ok, 'Require')).toBeUndefined();
    const stored = await participants.get(participantKey(conf.id, legIdOf('c-b', 'meter-tag')));
    expect(stored?.value.sessionTimer).toBeUndefined();
  });

  it('gives the leg back when the participant cannot be stored after allocation', async () => {
    const conf = await conference();
    const put = vi.spyOn(participants, 'put').mockRejectedValueOnce(new Error('KV down'));
    await expect(focus.handle(request('INVITE', conf.uri, {}, SDP), FLOW)).rejects.toThrow('KV down');
    put.mockRestore();
    expect(relays.held.size).toBe(0);
    expect(relays.released).toHaveLength(1);
  });

  it('undoes a new INVITE the edge answered itself (no owner tag in the report), before or after the join ends', async () => {
    const conf = await conference();
    await join(conf.uri, [], 'late-1');
    const report = (callId: string, cseq = 1) => ({
      callId,
      localTag: '',
      remoteTag: 'meter-tag',
      cseq,
      routingKey: conf.id,
      reason: 'owner too slow',
    });
    // After: the stored participant of that INVITE (same CSeq) is removed, without a BYE.
    expect(await dialogs.dialogFailed(report('late-1', 2))).toBe(false);
    expect(await dialogs.dialogFailed(report('late-1'))).toBe(true);
    expect(relays.held.size).toBe(0);
    expect(sent).toHaveLength(0);
    // Before: nothing stored yet; the join that ends later is told by abandoned().
    expect(await dialogs.dialogFailed(report('late-2'))).toBe(false);
    expect(dialogs.abandoned(legIdOf('late-2', 'meter-tag'), 1)).toBe(true);
    expect(dialogs.abandoned(legIdOf('late-2', 'meter-tag'), 2)).toBe(false);
    clock += 61_000;
    expect(dialogs.abandoned(legIdOf('late-2', 'meter-tag'), 1)).toBe(false);
  });

  it('undoes a new participant without a BYE when told the caller never got its 2xx', async () => {
    const conf = await conference();
    const { toTag } = await join(conf.uri);
    const ended = await dialogs.end(
      conf.id,
      legIdOf('call-1', 'meter-tag'),
      { reason: 'edge gave up' },
      (p) => p.localTag === toTag,
    );
    expect(ended).toBe(true);
    expect(relays.held.size).toBe(0);
    expect(sent).toHaveLength(0);
  });
});
