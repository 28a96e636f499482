// REFER handling at the focus (refer.ts) with in-process KV and bus and a fake edge: who may refer,
// REFER inside a participant's dialog (NOTIFYs in that dialog's CSeq space), the access list's `remove`,
// and referrals orphaned by a dead replica (reported, leg released) or finished by it (only the NOTIFY).
import { AccessList, parseAccessList } from '@sip-pubsub/events';
import { createLogger, InProcessBus, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { refuseListing } from '@sip-pubsub/platform/testing';
import {
  conferenceRecordSchema,
  indexRecordSchema,
  type LegSpec,
  type ParticipantRecord,
  participantKey,
  participantRecordSchema,
  REFERRALS_INDEX_KEY,
  type ReferDialogRecord,
  type ReferralRecord,
  referDialogKey,
  referDialogRecordSchema,
  referralRecordSchema,
} from '@sip-pubsub/proto';
import {
  createRequest,
  createResponse,
  type Flow,
  getHeader,
  type HeaderField,
  type SipRequest,
} from '@sip-pubsub/sip';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SentRequestOutcome } from './failover.js';
import { legIdOf } from './focus.js';
import { IndexWriter } from './indexes.js';
import { Referrals, type ReferralsOptions, referralKey } from './refer.js';
import { NoRelayAvailableError } from './relays.js';

const CONF_ID = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';
const CONF = `sip:conf-${CONF_ID}@example.net`;
const FLOW = { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5080, edgeId: 'edge-1' };

describe('Referrals', () => {
  let kv: InProcessKvStore;
  let participants: JsonBucket<ParticipantRecord>;
  let referralStore: JsonBucket<ReferralRecord>;
  let referDialogs: JsonBucket<ReferDialogRecord>;
  /** The fake edge's answer to a request other than NOTIFY; undefined: 200 without a response. */
  let answer: ((request: SipRequest) => Promise<SentRequestOutcome> | SentRequestOutcome) | undefined;
  let indexes: JsonBucket<ReturnType<typeof indexRecordSchema.parse>>;
  let sent: { request: SipRequest; flow: Flow; ownerAcks?: boolean }[];
  let released: string[];
  let live: string[];
  let acl: AccessList | undefined;
  /** Status the referrer answers NOTIFYs with. */
  let notifyAnswer: number;
  let referrals: Referrals;
  const make = (selfId: string, extra: Partial<ReferralsOptions> = {}) =>
    new Referrals({
      domain: 'example.net',
      selfId,
      stores: {
        conferences: new JsonBucket(kvBuckets.conferences, conferenceRecordSchema),
        participants,
        indexes,
        referrals: referralStore,
        referDialogs,
      },
      relays: {
        allocate: async (spec: LegSpec) => ({
          relayId: 'r1',
          relayAddress: 'r1:1',
          host: '192.0.2.9',
          port: 30000 + (spec.legId?.length ?? 0),
        }),
        update: async () => undefined,
        release: async (_a: string, _c: string, legId: string) => {
          released.push(legId);
          return true;
        },
      },
      send: async (request, flow, _timeoutMs, ownerAcks): Promise<SentRequestOutcome> => {
        sent.push({ request, flow, ...(ownerAcks ? { ownerAcks } : {}) });
        if (request.method === 'NOTIFY') return { status: notifyAnswer, reason: 'whatever' };
        if (answer) return answer(request);
        return { status: 200, reason: 'OK' };
      },
      bus: new InProcessBus(),
      logger: createLogger('test', { level: 'silent' }),
      admins: ['sip:ops@example.net', 'root'],
      maxLegsPerConference: 10,
      dialOutTimeoutMs: 1000,
      liveReplicas: () => live,
      owns: () => true,
      ...(acl ? { access: () => acl! } : {}),
      defer: (work) => work(),
      ...extra,
    });
  const kvBuckets: Record<string, Awaited<ReturnType<InProcessKvStore['bucket']>>> = {};

  beforeEach(async () => {
    kv = new InProcessKvStore();
    kvBuckets.conferences = await kv.bucket('conferences');
    participants = new JsonBucket(await kv.bucket('participants'), participantRecordSchema);
    // Nothing here may list a bucket: the referrals are found through their index record.
    const referralBucket = refuseListing(await kv.bucket('referrals'));
    referralStore = new JsonBucket(referralBucket, referralRecordSchema);
    referDialogs = new JsonBucket(referralBucket, referDialogRecordSchema);
    indexes = new JsonBucket(refuseListing(await kv.bucket('indexes')), indexRecordSchema);
    await new JsonBucket(kvBuckets.conferences, conferenceRecordSchema).put(CONF_ID, {
      id: CONF_ID,
      topic: 'plant/1',
      creator: 'sip:chair@example.org',
      created: 1,
      policy: { onExistingTopic: 'redirect', invalidData: 'drop' },
    });
    sent = [];
    answer = undefined;
    released = [];
    live = ['focus-a'];
    acl = undefined;
    notifyAnswer = 200;
    referrals = make('focus-a');
  });

  const refer = (
    referTo: string,
    opts: {
      user?: string;
      toTag?: string;
      callId?: string;
      cseq?: number;
      fromTag?: string;
      headers?: HeaderField[];
    } = {},
  ) =>
    createRequest({
      method: 'REFER',
      uri: CONF,
      from: { uri: `sip:${opts.user ?? 'chair'}@example.org`, params: { tag: opts.fromTag ?? 'ref-tag' } },
      to: { uri: CONF, params: opts.toTag ? { tag: opts.toTag } : {} },
      callId: opts.callId ?? 'refer-call',
      cseq: opts.cseq ?? 1,
      contact: { uri: `sip:${opts.user ?? 'chair'}@127.0.0.1:5080`, params: {} },
      headers: [{ name: 'Refer-To', value: referTo }, ...(opts.headers ?? [])],
    });

  const participant = (
    legId: string,
    aor: string,
    extra: Partial<ParticipantRecord> = {},
  ): ParticipantRecord => ({
    conferenceId: CONF_ID,
    legId,
    callId: `call-${legId}`,
    remoteTag: `rt-${legId}`,
    localTag: `lt-${legId}`,
    aor,
    contact: 'sip:x@127.0.0.1:5090',
    remoteSeq: 1,
    role: 'subscriber',
    status: 'sendonly',
    relayId: 'r1',
    relayAddress: 'r1:1',
    media: { host: '192.0.2.9', port: 30000 },
    remoteMedia: { host: '127.0.0.1', port: 40000 },
    flow: FLOW,
    joinedAt: 1,
    answerVersion: 1,
    ...extra,
  });

  it('refuses removal by someone other than the creator or an admin, and lets admins (URI or identity) do it', async () => {
    expect(
      (await referrals.handle(refer('<sip:x@example.org;method=BYE>', { user: 'eve' }), CONF_ID, FLOW, ''))
        .status,
    ).toBe(403);
    expect(
      (await referrals.handle(refer('<sip:x@example.org;method=BYE>', { user: 'ops' }), CONF_ID, FLOW, ''))
        .status,
    ).toBe(403);
    // sip:ops@example.net is the admin; a request from identity `root` (authenticated) is too.
    const byUri = refer('<sip:x@example.org;method=BYE>', { user: 'ops', callId: 'c2' });
    byUri.headers = byUri.headers.map((h) =>
      h.name === 'From' ? { name: 'From', value: '<sip:ops@example.net>;tag=t' } : h,
    );
    expect((await referrals.handle(byUri, CONF_ID, FLOW, '')).status).toBe(202);
    expect(
      (
        await referrals.handle(
          refer('<sip:x@example.org;method=BYE>', { user: 'anyone', callId: 'c3' }),
          CONF_ID,
          FLOW,
          'root',
        )
      ).status,
    ).toBe(202);
    await referrals.settled();
    // Both found no such participant: each final NOTIFY says 404.
    const finals = sent.filter((s) => /terminated/.test(getHeader(s.request, 'Subscription-State') ?? ''));
    expect(finals.map((s) => s.request.body.toString().trim())).toEqual([
      'SIP/2.0 404 Not Found',
      'SIP/2.0 404 Not Found',
    ]);
  });

  it('a referrer that answers the first NOTIFY 481 gets no more (RFC 6665 §4.2.2); the work still ends', async () => {
    notifyAnswer = 481;
    expect((await referrals.handle(refer('<sip:x@example.org;method=BYE>'), CONF_ID, FLOW, '')).status).toBe(
      202,
    );
    await referrals.settled();
    expect(sent.map((s) => s.request.body.toString())).toEqual(['SIP/2.0 100 Trying\r\n']);
    expect(Object.keys((await indexes.get(REFERRALS_INDEX_KEY))?.value.members ?? {})).toEqual([]);
  });

  it('an access list that does not grant `remove` refuses even the creator', async () => {
    acl = new AccessList(parseAccessList('allow * publish,subscribe #\n', 'acl'), 'deny');
    referrals = make('focus-a');
    const res = await referrals.handle(refer('<sip:x@example.org;method=BYE>'), CONF_ID, FLOW, '');
    expect(res.status).toBe(403);
    expect(res.reason).toBe('Not Allowed To Remove Participants Of This Topic');
  });

  it('a stranger may not dial out; a participant may, from inside its dialog, with NOTIFYs in that dialog', async () => {
    expect(
      (await referrals.handle(refer('<sip:new@example.org>', { user: 'eve' }), CONF_ID, FLOW, '')).status,
    ).toBe(403);
    const legId = legIdOf('call-p', 'rt-p');
    await participants.put(
      participantKey(CONF_ID, legId),
      participant(legId, 'sip:eve@example.org', {
        callId: 'call-p',
        remoteTag: 'rt-p',
        localTag: 'lt-p',
        localSeq: 4,
        remoteSeq: 2,
      }),
    );
    // Unknown dialog: 481; CSeq not above the dialog's: 500.
    expect(
      (
        await referrals.handle(
          refer('<sip:new@example.org>', {
            user: 'eve',
            toTag: 'nope',
            callId: 'call-p',
            fromTag: 'rt-p',
            cseq: 3,
          }),
          CONF_ID,
          FLOW,
          '',
        )
      ).status,
    ).toBe(481);
    expect(
      (
        await referrals.handle(
          refer('<sip:new@example.org>', {
            user: 'eve',
            toTag: 'lt-p',
            callId: 'call-p',
            fromTag: 'rt-p',
            cseq: 2,
          }),
          CONF_ID,
          FLOW,
          '',
        )
      ).status,
    ).toBe(500);
    const res = await referrals.handle(
      refer('<sip:new@example.org>', {
        user: 'eve',
        toTag: 'lt-p',
        callId: 'call-p',
        fromTag: 'rt-p',
        cseq: 3,
      }),
      CONF_ID,
      FLOW,
      '',
    );
    expect(res.status).toBe(202);
    await referrals.settled();
    const notifies = sent.filter((s) => s.request.method === 'NOTIFY');
    expect(notifies.map((n) => getHeader(n.request, 'CSeq'))).toEqual(['5 NOTIFY', '6 NOTIFY']);
    for (const n of notifies) {
      expect(getHeader(n.request, 'Call-ID')).toBe('call-p');
      expect(getHeader(n.request, 'Event')).toBe('refer;id=3');
    }
    expect((await participants.get(participantKey(CONF_ID, legId)))?.value).toMatchObject({
      localSeq: 6,
      remoteSeq: 3,
    });
    // The INVITE went to the target from the conference; the fake edge's 200 carries no response: 500.
    const invite = sent.find((s) => s.request.method === 'INVITE')!;
    expect(invite.request.uri).toBe('sip:new@example.org');
    expect(invite.flow).toMatchObject({ remoteHost: 'example.org', remotePort: 5060, transport: 'udp' });
    expect(notifies[1].request.body.toString()).toBe('SIP/2.0 500 Server Internal Error\r\n');
  });

  it("a dialled-out party may REFER inside its own dialog (its leg id hashes our tag, not the sender's)", async () => {
    // The focus was the UAC: our tag is the dialog's local tag and the leg id hashes it.
    const legId = legIdOf('dialled-call', 'our-tag');
    await participants.put(
      participantKey(CONF_ID, legId),
      participant(legId, 'sip:eve@example.org', {
        callId: 'dialled-call',
        remoteTag: 'party-tag',
        localTag: 'our-tag',
        dialledOut: true,
        localSeq: 2,
        remoteSeq: 0,
      }),
    );
    const inDialog = (cseq: number, fromTag = 'party-tag') =>
      referrals.handle(
        refer('<sip:new@example.org>', {
          user: 'eve',
          toTag: 'our-tag',
          callId: 'dialled-call',
          fromTag,
          cseq,
        }),
        CONF_ID,
        FLOW,
        '',
      );
    // Another sender's tag names no dialog of ours.
    expect((await inDialog(1, 'someone-else')).status).toBe(481);
    expect((await inDialog(1)).status).toBe(202);
    await referrals.settled();
    const notifies = sent.filter((s) => s.request.method === 'NOTIFY');
    expect(notifies.length).toBeGreaterThan(0);
    for (const n of notifies) expect(getHeader(n.request, 'Call-ID')).toBe('dialled-call');
    expect((await participants.get(participantKey(CONF_ID, legId)))?.value.remoteSeq).toBe(1);
    // The dialog's CSeq space is now the REFER's.
    expect((await inDialog(1)).status).toBe(500);
  });

  it('a referral whose replica died is reported failed by the new owner and its leg released', async () => {
    const key = referralKey(CONF_ID, 'r1');
    const legId = legIdOf('dial-call', 'our-tag');
    await referralStore.put(key, {
      conferenceId: CONF_ID,
      id: 'r1',
      kind: 'dial-out',
      target: 'sip:x@example.org',
      owner: 'focus-dead',
      startedAt: Date.now(),
      refer: {
        eventId: 1,
        subscribed: true,
        status: 'active',
        expiresAt: 10 ** 13,
        lastStatus: 100,
        lastReason: 'Trying',
        notifies: 1,
      },
      notify: {
        kind: 'dialog',
        dialog: {
          callId: 'refer-call',
          localTag: 'focus-tag',
          remoteTag: 'ref-tag',
          localUri: CONF,
          remoteUri: 'sip:chair@example.org',
          remoteTarget: 'sip:chair@127.0.0.1:5080',
          routeSet: [],
          localSeq: 1,
          secure: false,
        },
        flow: FLOW,
      },
      invite: { callId: 'dial-call', localTag: 'our-tag', legId },
      leg: { relayId: 'r1', relayAddress: 'r1:1', host: '192.0.2.9', port: 30001 },
    });
    const index = new IndexWriter(indexes, Date.now, createLogger('t', { level: 'silent' }));
    await index.add(REFERRALS_INDEX_KEY, key);

    // While its owner lives, nobody else touches it.
    live = ['focus-a', 'focus-dead'];
    expect(await referrals.recoverOrphans()).toBe(0);
    live = ['focus-a'];
    expect(await referrals.recoverOrphans()).toBe(1);
    await referrals.settled();
    expect(released).toEqual([legId]);
    const notify = sent.find((s) => s.request.method === 'NOTIFY')!;
    expect(notify.request.body.toString()).toBe('SIP/2.0 503 Focus Replica Lost\r\n');
    expect(getHeader(notify.request, 'Subscription-State')).toBe('terminated;reason=noresource');
    expect(getHeader(notify.request, 'CSeq')).toBe('2 NOTIFY');
    expect(await referralStore.get(key)).toBeNull();
    expect(Object.keys(await index.members(REFERRALS_INDEX_KEY))).toEqual([]);
  });

  it('a dial-out the dead replica had completed gets only its final NOTIFY (200) from the new owner', async () => {
    const key = referralKey(CONF_ID, 'r2');
    const legId = legIdOf('dial-2', 'our-2');
    await participants.put(
      participantKey(CONF_ID, legId),
      participant(legId, 'sip:x@example.org', { dialledOut: true }),
    );
    await referralStore.put(key, {
      conferenceId: CONF_ID,
      id: 'r2',
      kind: 'dial-out',
      target: 'sip:x@example.org',
      owner: 'focus-dead',
      startedAt: Date.now(),
      refer: {
        eventId: 1,
        subscribed: true,
        status: 'active',
        expiresAt: 10 ** 13,
        lastStatus: 100,
        lastReason: 'Trying',
        notifies: 1,
      },
      notify: { kind: 'participant', key: participantKey(CONF_ID, legId) },
      invite: { callId: 'dial-2', localTag: 'our-2', legId },
    });
    await new IndexWriter(indexes, Date.now, createLogger('t', { level: 'silent' })).add(
      REFERRALS_INDEX_KEY,
      key,
    );
    expect(await referrals.recoverOrphans()).toBe(1);
    await referrals.settled();
    expect(released).toEqual([]);
    expect(sent.map((s) => s.request.body.toString())).toEqual(['SIP/2.0 200 OK\r\n']);
  });

  /** The dialled party's 2xx to the focus's INVITE: its tag, Contact and an SDP answer of `direction`. */
  const answered = (invite: SipRequest, direction = 'sendonly') =>
    createResponse(invite, 200, 'OK', {
      toTag: 'party-tag',
      headers: [{ name: 'Contact', value: '<sip:x@192.0.2.50:5090>' }],
      contentType: 'application/sdp',
      body: [
        'v=0',
        'o=x 1 1 IN IP4 192.0.2.50',
        's=-',
        'c=IN IP4 192.0.2.50',
        't=0 0',
        'm=text 40000 RTP/AVP 100 98',
        'a=rtpmap:98 t140/1000',
        'a=rtpmap:100 red/1000',
        'a=fmtp:100 98/98/98',
        `a=${direction}`,
        '',
      ].join('\r\n'),
    });

  it("a dial-out's 2xx is ACKed by the focus itself, through the edge that sent the INVITE (owner_acks)", async () => {
    answer = (request) =>
      request.method === 'INVITE'
        ? { status: 200, reason: 'OK', response: answered(request), edgeId: 'edge-7' }
        : { status: 200, reason: 'ACK Sent' };
    expect((await referrals.handle(refer('<sip:x@example.org>'), CONF_ID, FLOW, '')).status).toBe(202);
    await referrals.settled();
    const invite = sent.find((s) => s.request.method === 'INVITE')!;
    expect(invite.ownerAcks).toBe(true);
    const ack = sent.find((s) => s.request.method === 'ACK')!;
    expect(ack.flow.edgeId).toBe('edge-7');
    expect(getHeader(ack.request, 'CSeq')).toBe('1 ACK');
    expect(getHeader(ack.request, 'Call-ID')).toBe(getHeader(invite.request, 'Call-ID'));
    expect(getHeader(ack.request, 'To')).toContain('tag=party-tag');
    expect(ack.request.uri).toBe('sip:x@192.0.2.50:5090');
    // The ACK left before anything else was sent in that dialog, and the party joined.
    expect(sent.filter((s) => s.request.method === 'BYE')).toEqual([]);
    const final = sent.filter((s) => s.request.method === 'NOTIFY').at(-1)!;
    expect(final.request.body.toString()).toBe('SIP/2.0 200 OK\r\n');
  });

  it('an ACK the edge refuses (it ended the dialog: we were too late) fails the dial-out: BYE, leg back, sipfrag 500', async () => {
    answer = (request) =>
      request.method === 'INVITE'
        ? { status: 200, reason: 'OK', response: answered(request), edgeId: 'edge-7' }
        : request.method === 'ACK'
          ? { status: 481, reason: 'Dialog Ended By The Edge (no ACK within 1600 ms)' }
          : { status: 200, reason: 'OK' };
    expect((await referrals.handle(refer('<sip:x@example.org>'), CONF_ID, FLOW, '')).status).toBe(202);
    await referrals.settled();
    const invite = sent.find((s) => s.request.method === 'INVITE')!;
    const legId = legIdOf(
      getHeader(invite.request, 'Call-ID')!,
      /tag=([^;>\s]+)/.exec(getHeader(invite.request, 'From')!)![1],
    );
    expect(released).toEqual([legId]);
    expect(await participants.get(participantKey(CONF_ID, legId))).toBeNull();
    const bye = sent.find((s) => s.request.method === 'BYE')!;
    expect(getHeader(bye.request, 'Reason')).toMatch(/^SIP ;cause=408 ;text="/);
    const final = sent.filter((s) => s.request.method === 'NOTIFY').at(-1)!;
    expect(final.request.body.toString()).toBe('SIP/2.0 500 Dial-Out Answer Not Acknowledged\r\n');
    expect(getHeader(final.request, 'Subscription-State')).toBe('terminated;reason=noresource');
  });

  it('a dial-out whose leg cannot be placed says why in its sipfrag: no relay, or a relay that failed', async () => {
    const finals: string[] = [];
    for (const failure of [new NoRelayAvailableError(), new Error('deadline exceeded')]) {
      sent = [];
      referrals = make('focus-a', {
        relays: {
          allocate: async () => {
            throw failure;
          },
          update: async () => undefined,
          release: async () => true,
        },
      });
      expect((await referrals.handle(refer('<sip:x@example.org>'), CONF_ID, FLOW, '')).status).toBe(202);
      await referrals.settled();
      expect(sent.some((s) => s.request.method === 'INVITE')).toBe(false);
      finals.push(
        sent
          .filter((s) => s.request.method === 'NOTIFY')
          .at(-1)!
          .request.body.toString(),
      );
    }
    expect(finals).toEqual([
      'SIP/2.0 503 No Media Relay Available\r\n',
      'SIP/2.0 503 Media Relay Allocation Failed\r\n',
    ]);
  });

  describe('the periodic sweep (fake clock)', () => {
    let clock: number;
    beforeEach(() => {
      clock = 1_000_000;
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    });
    afterEach(() => {
      referrals.stopSweeping();
      vi.useRealTimers();
    });

    const orphan = async (id: string, owner: string, startedAt: number) => {
      const key = referralKey(CONF_ID, id);
      const legId = legIdOf(`dial-${id}`, `our-${id}`);
      await referralStore.put(key, {
        conferenceId: CONF_ID,
        id,
        kind: 'dial-out',
        target: 'sip:x@example.org',
        owner,
        startedAt,
        refer: {
          eventId: 1,
          subscribed: true,
          status: 'active',
          expiresAt: 10 ** 13,
          lastStatus: 100,
          lastReason: 'Trying',
          notifies: 1,
        },
        notify: {
          kind: 'dialog',
          dialog: {
            callId: `refer-${id}`,
            localTag: 'focus-tag',
            remoteTag: 'ref-tag',
            localUri: CONF,
            remoteUri: 'sip:chair@example.org',
            remoteTarget: 'sip:chair@127.0.0.1:5080',
            routeSet: [],
            localSeq: 1,
            secure: false,
          },
          flow: FLOW,
        },
        invite: { callId: `dial-${id}`, localTag: `our-${id}`, legId },
        leg: { relayId: 'r1', relayAddress: 'r1:1', host: '192.0.2.9', port: 30001 },
      });
      await new IndexWriter(indexes, () => clock, createLogger('t', { level: 'silent' })).add(
        REFERRALS_INDEX_KEY,
        key,
      );
      return legId;
    };
    const tick = async (ms: number) => {
      await vi.advanceTimersByTimeAsync(ms);
      await referrals.settled();
    };
    const finals = () =>
      sent
        .filter((s) => s.request.method === 'NOTIFY')
        .map((s) => `${getHeader(s.request, 'Call-ID')} ${s.request.body.toString().trim()}`);

    it('finishes, without a membership change, a referral stuck on a live replica and one of our own past incarnation', async () => {
      live = ['focus-a', 'focus-b'];
      referrals = make('focus-a', { now: () => clock, staleAfterMs: 60_000 });
      const stuckLeg = await orphan('stuck', 'focus-b', clock);
      // Same id as ours, but this process never worked on it: the replica restarted under its id.
      const mineLeg = await orphan('mine', 'focus-a', clock);
      referrals.startSweeping(10_000);
      await tick(10_000);
      expect(finals()).toEqual(['refer-mine SIP/2.0 503 Focus Replica Lost']);
      expect(released).toEqual([mineLeg]);
      // focus-b is alive and its referral young: left alone until it is past staleAfterMs.
      clock += 50_000;
      await tick(10_000);
      expect(finals()).toHaveLength(1);
      clock += 10_000;
      await tick(10_000);
      expect(finals()).toEqual([
        'refer-mine SIP/2.0 503 Focus Replica Lost',
        'refer-stuck SIP/2.0 503 Focus Replica Lost',
      ]);
      expect(released).toEqual([mineLeg, stuckLeg]);
      expect(Object.keys((await indexes.get(REFERRALS_INDEX_KEY))?.value.members ?? {})).toEqual([]);
      // Nothing more to do: later sweeps send nothing.
      await tick(30_000);
      expect(finals()).toHaveLength(2);
    });

    it('reads at most sweepBatch referrals a pass, going round the pending ones', async () => {
      live = ['focus-a'];
      referrals = make('focus-a', { now: () => clock, sweepBatch: 1 });
      await orphan('one', 'focus-dead', clock);
      await orphan('two', 'focus-dead', clock);
      await orphan('three', 'focus-dead', clock);
      referrals.startSweeping(1_000);
      await tick(1_000);
      expect(finals()).toHaveLength(1);
      await tick(1_000);
      expect(finals()).toHaveLength(2);
      await tick(1_000);
      expect(finals().sort()).toEqual([
        'refer-one SIP/2.0 503 Focus Replica Lost',
        'refer-three SIP/2.0 503 Focus Replica Lost',
        'refer-two SIP/2.0 503 Focus Replica Lost',
      ]);
    });

    it('skips the referrals of conferences another replica owns without reading them', async () => {
      live = ['focus-a'];
      referrals = make('focus-a', { now: () => clock, owns: () => false });
      await orphan('theirs', 'focus-dead', clock);
      const reads = vi.spyOn(referralStore, 'get');
      referrals.startSweeping(1_000);
      await tick(1_000);
      expect(reads).not.toHaveBeenCalled();
      expect(finals()).toEqual([]);
    });
  });

  it('a REFER inside the dialog of an earlier REFER is a further subscription there (RFC 3515 §2.4.6)', async () => {
    // The first dial-out rings until told: its subscription (and so the dialog) lives meanwhile.
    let ring: (outcome: SentRequestOutcome) => void = () => undefined;
    answer = (request) =>
      request.method === 'INVITE'
        ? new Promise<SentRequestOutcome>((resolve) => {
            ring = resolve;
          })
        : { status: 200, reason: 'OK' };
    const first = await referrals.handle(
      refer('<sip:slow@example.org>', { callId: 'rc' }),
      CONF_ID,
      FLOW,
      '',
    );
    expect(first.status).toBe(202);
    const toTag = /tag=([^;>\s]+)/.exec(getHeader(first, 'To') ?? '')![1];
    const inDialog = (cseq: number, referTo = '<sip:x@example.org;method=BYE>') =>
      refer(referTo, { callId: 'rc', toTag, cseq });
    // Not above the dialog's CSeq: 500; another tag: 481.
    expect((await referrals.handle(inDialog(1), CONF_ID, FLOW, '')).status).toBe(500);
    expect(
      (
        await referrals.handle(
          refer('<sip:x@example.org>', { callId: 'rc', toTag: 'other', cseq: 2 }),
          CONF_ID,
          FLOW,
          '',
        )
      ).status,
    ).toBe(481);
    const second = await referrals.handle(inDialog(2), CONF_ID, FLOW, '');
    expect(second.status).toBe(202);
    expect(getHeader(second, 'To')).toContain(`tag=${toTag}`);
    // The removal finds nobody (404) and ends its subscription; the first still lives.
    while (
      !sent.some(
        (s) =>
          getHeader(s.request, 'Event') === 'refer;id=2' &&
          /terminated/.test(getHeader(s.request, 'Subscription-State') ?? ''),
      )
    )
      await new Promise((r) => setTimeout(r, 10));
    ring({ status: 486, reason: 'Busy Here' });
    await referrals.settled();
    const notifies = sent.filter((s) => s.request.method === 'NOTIFY');
    expect(
      notifies.map((n) => `${getHeader(n.request, 'Event')} ${n.request.body.toString().trim()}`).sort(),
    ).toEqual([
      'refer;id=1 SIP/2.0 100 Trying',
      'refer;id=1 SIP/2.0 486 Busy Here',
      'refer;id=2 SIP/2.0 100 Trying',
      'refer;id=2 SIP/2.0 404 Not Found',
    ]);
    // One dialog, one CSeq space: every NOTIFY in it has its own CSeq.
    for (const n of notifies) {
      expect(getHeader(n.request, 'Call-ID')).toBe('rc');
      expect(getHeader(n.request, 'From')).toContain(`tag=${toTag}`);
    }
    const cseqs = notifies.map((n) => Number.parseInt(getHeader(n.request, 'CSeq') ?? '', 10));
    expect(new Set(cseqs).size).toBe(4);
    // The dialog ended with its last subscription: a REFER in it now gets 481, and its record is gone.
    expect(await referDialogs.get(referDialogKey(CONF_ID, legIdOf('rc', 'ref-tag')))).toBeNull();
    expect((await referrals.handle(inDialog(3), CONF_ID, FLOW, '')).status).toBe(481);
  });
});
