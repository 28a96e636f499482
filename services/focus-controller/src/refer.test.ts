// REFER handling at the focus (refer.ts) with in-process KV and bus and a fake edge: who may refer,
// REFER inside a participant's dialog (NOTIFYs in that dialog's CSeq space), the access list's `remove`,
// and referrals orphaned by a dead replica (reported, leg released) or finished by it (only the NOTIFY).
import { AccessList, parseAccessList } from '@sip-pubsub/events';
import { createLogger, InProcessBus, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import {
  conferenceRecordSchema,
  indexRecordSchema,
  type LegSpec,
  type ParticipantRecord,
  participantKey,
  participantRecordSchema,
  REFERRALS_INDEX_KEY,
  type ReferralRecord,
  referralRecordSchema,
} from '@sip-pubsub/proto';
import { createRequest, type Flow, getHeader, type HeaderField, type SipRequest } from '@sip-pubsub/sip';
import { beforeEach, describe, expect, it } from 'vitest';
import type { SentRequestOutcome } from './failover.js';
import { legIdOf } from './focus.js';
import { IndexWriter } from './indexes.js';
import { Referrals, referralKey } from './refer.js';

const CONF_ID = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';
const CONF = `sip:conf-${CONF_ID}@example.net`;
const FLOW = { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5080, edgeId: 'edge-1' };

describe('Referrals', () => {
  let kv: InProcessKvStore;
  let participants: JsonBucket<ParticipantRecord>;
  let referralStore: JsonBucket<ReferralRecord>;
  let indexes: JsonBucket<ReturnType<typeof indexRecordSchema.parse>>;
  let sent: { request: SipRequest; flow: Flow }[];
  let released: string[];
  let live: string[];
  let acl: AccessList | undefined;
  /** Status the referrer answers NOTIFYs with. */
  let notifyAnswer: number;
  let referrals: Referrals;
  const make = (selfId: string) =>
    new Referrals({
      domain: 'example.net',
      selfId,
      stores: {
        conferences: new JsonBucket(kvBuckets.conferences, conferenceRecordSchema),
        participants,
        indexes,
        referrals: referralStore,
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
      send: async (request, flow): Promise<SentRequestOutcome> => {
        sent.push({ request, flow });
        if (request.method === 'NOTIFY') return { status: notifyAnswer, reason: 'whatever' };
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
    });
  const kvBuckets: Record<string, Awaited<ReturnType<InProcessKvStore['bucket']>>> = {};

  beforeEach(async () => {
    kv = new InProcessKvStore();
    kvBuckets.conferences = await kv.bucket('conferences');
    participants = new JsonBucket(await kv.bucket('participants'), participantRecordSchema);
    referralStore = new JsonBucket(await kv.bucket('referrals'), referralRecordSchema);
    indexes = new JsonBucket(await kv.bucket('indexes'), indexRecordSchema);
    await new JsonBucket(kvBuckets.conferences, conferenceRecordSchema).put(CONF_ID, {
      id: CONF_ID,
      topic: 'plant/1',
      creator: 'sip:chair@example.org',
      created: 1,
      policy: { onExistingTopic: 'redirect', invalidData: 'drop' },
    });
    sent = [];
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

  it('a referral whose replica died is reported failed by the new owner and its leg released', async () => {
    const key = referralKey(CONF_ID, 'r1');
    const legId = legIdOf('dial-call', 'our-tag');
    await referralStore.put(key, {
      conferenceId: CONF_ID,
      id: 'r1',
      kind: 'dial-out',
      target: 'sip:x@example.org',
      owner: 'focus-dead',
      startedAt: 1,
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
      startedAt: 1,
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
});
