import { parseConferenceInfo, parseDirectoryInfo } from '@sip-pubsub/events';
import { createLogger, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { FakeClock, refuseListing } from '@sip-pubsub/platform/testing';
import {
  conferenceRecordSchema,
  directoryShardKey,
  type IndexRecord,
  indexRecordSchema,
  type ParticipantRecord,
  participantKey,
  participantRecordSchema,
  rosterIndexKey,
  subscriptionKey,
  subscriptionRecordSchema,
} from '@sip-pubsub/proto';
import { createRequest, getHeader, parseCSeq, parseNameAddr, type SipRequest } from '@sip-pubsub/sip';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConferenceNotifier, subscriptionIdOf } from './notifier.js';

const CONF = 'abcdefghijklmnop';
const CONF_URI = `sip:conf-${CONF}@example.net`;
const flow = { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5070 };

function participant(
  legId: string,
  aor: string,
  role: ParticipantRecord['role'],
  joinedAt: number,
): ParticipantRecord {
  return {
    conferenceId: CONF,
    legId,
    callId: `call-${legId}`,
    remoteTag: 'r',
    localTag: 'l',
    aor,
    contact: `${aor.replace('@', '-ua@')}`,
    remoteSeq: 1,
    role,
    status: role === 'publisher' ? 'recvonly' : 'sendonly',
    relayId: 'relay',
    relayAddress: '127.0.0.1:1',
    media: { host: '127.0.0.1', port: 20000 },
    remoteMedia: { host: '127.0.0.1', port: 40000 },
    flow,
    joinedAt,
    answerVersion: 1,
  };
}

describe('ConferenceNotifier', () => {
  let clock: FakeClock;
  let sent: SipRequest[];
  let replyStatus: number;
  let notifier: ConferenceNotifier;
  /** Participants written as the focus writes them: the record, and its entry in the roster index. */
  let participants: {
    put(key: string, p: ParticipantRecord): Promise<void>;
    delete(key: string): Promise<void>;
  };

  /** Options of `notifier`, to make a second replica over the same KV. */
  let notifierOptions: ConstructorParameters<typeof ConferenceNotifier>[0];

  beforeEach(async () => {
    const kv = new InProcessKvStore();
    clock = new FakeClock(1_000_000);
    sent = [];
    replyStatus = 200;
    const conferences = new JsonBucket(refuseListing(await kv.bucket('conferences')), conferenceRecordSchema);
    const records = new JsonBucket(refuseListing(await kv.bucket('participants')), participantRecordSchema);
    const indexes = new JsonBucket<IndexRecord>(await kv.bucket('indexes'), indexRecordSchema);
    participants = {
      async put(key, p) {
        await records.put(key, p);
        await indexes.mutate(rosterIndexKey(p.conferenceId), (cur) => ({
          members: { ...cur?.members, [p.legId]: { role: p.role, at: p.joinedAt } },
        }));
      },
      async delete(key) {
        const p = (await records.get(key))?.value;
        await records.delete(key);
        if (p)
          await indexes.mutate(rosterIndexKey(p.conferenceId), (cur) => {
            const members = { ...cur?.members };
            delete members[p.legId];
            return { members };
          });
      },
    };
    await indexes.put(directoryShardKey(CONF), { members: { [CONF]: { at: 0 } } });
    await conferences.create(CONF, {
      id: CONF,
      topic: 'plant/7',
      creator: 'sip:a@x',
      created: 0,
      policy: { onExistingTopic: 'redirect', invalidData: 'drop' },
    });
    notifierOptions = {
      domain: 'example.net',
      stores: {
        conferences,
        participants: records,
        subscriptions: new JsonBucket(
          refuseListing(await kv.bucket('subscriptions')),
          subscriptionRecordSchema,
        ),
        indexes,
      },
      send: async (req) => {
        sent.push(req);
        return replyStatus;
      },
      logger: createLogger('test', { level: 'silent' }),
      minNotifyIntervalMs: 200,
      maxSubscriptionsPerConference: 2,
      clock,
    };
    notifier = new ConferenceNotifier(notifierOptions);
  });

  it('takes into its index a subscription another replica created for a resource it owns', async () => {
    const other = new ConferenceNotifier({ ...notifierOptions, send: async () => 200 });
    const handled = await other.handle(subscribe({ callId: 'elsewhere' }), flow);
    expect(handled.response.status).toBe(200);
    const key = subscriptionKey(CONF, subscriptionIdOf('elsewhere', 'wtag', undefined));
    const record = await notifierOptions.stores.subscriptions.get(key);
    expect(record).not.toBeNull();
    // Not ours: nothing happens. Ours: a roster change now reaches that watcher through us.
    notifier.observe(key, record!.value, () => false);
    expect(notifier.activeSubscriptions).toBe(0);
    notifier.observe(key, record!.value, () => true);
    expect(notifier.activeSubscriptions).toBe(1);
    await participants.put(
      participantKey(CONF, 'l1'),
      participant('l1', 'sip:pub@example.org', 'publisher', 1),
    );
    await notifier.onRoster({
      type: 'joined',
      conferenceId: CONF,
      participant: {
        legId: 'l1',
        aor: 'sip:pub@example.org',
        role: 'publisher',
        status: 'recvonly',
        joinedAt: 1,
      },
      at: 1,
    });
    clock.advance(200);
    await settle();
    expect(sent.map((r) => getHeader(r, 'Call-ID'))).toEqual(['elsewhere']);
    // Deleted by another replica: it leaves our index.
    notifier.observe(key, null, () => true);
    expect(notifier.activeSubscriptions).toBe(0);
    other.close();
  });

  const subscribe = (
    opts: {
      expires?: string;
      event?: string;
      toTag?: string;
      callId?: string;
      cseq?: number;
      uri?: string;
    } = {},
  ) =>
    createRequest({
      method: 'SUBSCRIBE',
      uri: opts.uri ?? CONF_URI,
      from: { uri: 'sip:watcher@example.org', params: { tag: 'wtag' } },
      to: { uri: CONF_URI, params: opts.toTag ? { tag: opts.toTag } : {} },
      callId: opts.callId ?? 'sub-call',
      cseq: opts.cseq ?? 1,
      contact: { uri: 'sip:watcher@127.0.0.1:5070', params: {} },
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKs' },
        { name: 'Event', value: opts.event ?? 'conference' },
        ...(opts.expires !== undefined ? [{ name: 'Expires', value: opts.expires }] : []),
      ],
    });
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  const docs = () => sent.map((r) => parseConferenceInfo(r.body.toString()));

  it('creates a second subscription with another Event id in the dialog (RFC 6665 §4.5.2); both end on their own', async () => {
    const first = await notifier.handle(subscribe({ event: 'conference;id=a', expires: '600' }), flow);
    expect(first.response.status).toBe(200);
    await first.after?.();
    const toTag = parseNameAddr(getHeader(first.response, 'To')!).params.tag ?? undefined;
    const second = await notifier.handle(
      subscribe({ event: 'conference;id=b', expires: '600', toTag, cseq: 2 }),
      flow,
    );
    expect(second.response.status).toBe(200);
    expect(parseNameAddr(getHeader(second.response, 'To')!).params.tag).toBe(toTag);
    await second.after?.();
    // A CSeq the dialog already saw is refused, whichever subscription it names (§12.2.2).
    expect(
      (await notifier.handle(subscribe({ event: 'conference;id=c', toTag, cseq: 2 }), flow)).response.status,
    ).toBe(500);
    expect(notifier.activeSubscriptions).toBe(2);
    await participants.put(
      participantKey(CONF, 'l1'),
      participant('l1', 'sip:pub@example.org', 'publisher', 1),
    );
    await notifier.onRoster({
      type: 'joined',
      conferenceId: CONF,
      participant: {
        legId: 'l1',
        aor: 'sip:pub@example.org',
        role: 'publisher',
        status: 'recvonly',
        joinedAt: 1,
      },
      at: 1,
    });
    clock.advance(200);
    await settle();
    const events = () => sent.map((r) => getHeader(r, 'Event'));
    expect(events()).toEqual(['conference;id=a', 'conference;id=b', 'conference;id=a', 'conference;id=b']);
    // One dialog, one CSeq space: the NOTIFYs of both subscriptions number upwards together.
    const seqs = sent.map((r) => parseCSeq(getHeader(r, 'CSeq')!).seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(new Set(sent.map((r) => parseNameAddr(getHeader(r, 'From')!).params.tag))).toEqual(
      new Set([toTag]),
    );

    // The first ends; the second lives on in the dialog and still hears of changes.
    sent = [];
    const endA = await notifier.handle(
      subscribe({ event: 'conference;id=a', expires: '0', toTag, cseq: 3 }),
      flow,
    );
    expect(endA.response.status).toBe(200);
    await endA.after?.();
    expect(sent.map((r) => [getHeader(r, 'Event'), getHeader(r, 'Subscription-State')])).toEqual([
      ['conference;id=a', 'terminated;reason=timeout'],
    ]);
    await participants.delete(participantKey(CONF, 'l1'));
    await notifier.onRoster({
      type: 'left',
      conferenceId: CONF,
      participant: {
        legId: 'l1',
        aor: 'sip:pub@example.org',
        role: 'publisher',
        status: 'recvonly',
        joinedAt: 1,
      },
      at: 2,
    });
    clock.advance(200);
    await settle();
    expect(events()).toEqual(['conference;id=a', 'conference;id=b']);
    // Another id still joins the dialog while one subscription keeps it.
    const third = await notifier.handle(subscribe({ event: 'conference;id=c', toTag, cseq: 4 }), flow);
    expect(third.response.status).toBe(200);
    await third.after?.();
    for (const [id, cseq] of [
      ['b', 5],
      ['c', 6],
    ] as const) {
      const end = await notifier.handle(
        subscribe({ event: `conference;id=${id}`, expires: '0', toTag, cseq }),
        flow,
      );
      expect(end.response.status).toBe(200);
      await end.after?.();
    }
    const all = sent.map((r) => parseCSeq(getHeader(r, 'CSeq')!).seq);
    expect(all).toEqual([...all].sort((x, y) => x - y));
    // The dialog ended with its last subscription: nothing is left in KV, and a new id gets 481.
    expect(notifier.activeSubscriptions).toBe(0);
    for (const id of ['a', 'b', 'c'])
      expect(
        await notifierOptions.stores.subscriptions.get(
          subscriptionKey(CONF, subscriptionIdOf('sub-call', 'wtag', id)),
        ),
      ).toBeNull();
    expect(
      (await notifier.handle(subscribe({ event: 'conference;id=d', toTag, cseq: 7 }), flow)).response.status,
    ).toBe(481);
  });

  it('accepts a subscription, then sends full state in a NOTIFY in the new dialog', async () => {
    await participants.put(
      participantKey(CONF, 'l1'),
      participant('l1', 'sip:pub@example.org', 'publisher', 1),
    );
    const handled = await notifier.handle(subscribe({ expires: '600' }), flow);
    expect(handled.response.status).toBe(200);
    expect(getHeader(handled.response, 'Expires')).toBe('600');
    const toTag = parseNameAddr(getHeader(handled.response, 'To')!).params.tag;
    await handled.after?.();
    expect(sent).toHaveLength(1);
    const notify = sent[0];
    expect(notify.method).toBe('NOTIFY');
    expect(notify.uri).toBe('sip:watcher@127.0.0.1:5070');
    expect(getHeader(notify, 'Event')).toBe('conference');
    expect(getHeader(notify, 'Subscription-State')).toBe('active;expires=600');
    expect(parseNameAddr(getHeader(notify, 'From')!).params.tag).toBe(toTag);
    expect(parseNameAddr(getHeader(notify, 'To')!).params.tag).toBe('wtag');
    expect(getHeader(notify, 'Call-ID')).toBe('sub-call');
    const doc = docs()[0];
    expect(doc).toMatchObject({
      state: 'full',
      version: 1,
      subject: 'plant/7',
      pubsub: { publisherCount: 1, subscriberCount: 0 },
    });
    expect(doc.users.map((u) => [u.entity, u.role])).toEqual([['sip:pub@example.org', 'publisher']]);
  });

  it('rejects unknown packages (489), too-brief expiry (423), unknown conferences (404) and too many subscriptions (503)', async () => {
    const bad = await notifier.handle(subscribe({ event: 'presence' }), flow);
    expect(bad.response.status).toBe(489);
    expect(getHeader(bad.response, 'Allow-Events')).toBe('conference, pubsub-conferences');
    const brief = await notifier.handle(subscribe({ expires: '10' }), flow);
    expect(brief.response.status).toBe(423);
    expect(getHeader(brief.response, 'Min-Expires')).toBe('60');
    expect(
      (await notifier.handle(subscribe({ uri: 'sip:conf-zzzzzzzzzzzzzzzz@example.net' }), flow)).response
        .status,
    ).toBe(404);
    await notifier.handle(subscribe({ callId: 'a' }), flow);
    await notifier.handle(subscribe({ callId: 'b' }), flow);
    expect((await notifier.handle(subscribe({ callId: 'c' }), flow)).response.status).toBe(503);
  });

  it('merges roster changes inside the rate window into one partial NOTIFY with the next version and CSeq', async () => {
    const handled = await notifier.handle(subscribe(), flow);
    await handled.after?.();
    const join = async (legId: string, aor: string, role: ParticipantRecord['role']) => {
      await participants.put(participantKey(CONF, legId), participant(legId, aor, role, clock.now()));
      await notifier.onRoster({
        type: 'joined',
        conferenceId: CONF,
        participant: { legId, aor, role, status: 'sendonly', joinedAt: 0 },
        at: 0,
      });
    };
    await join('l1', 'sip:a@x', 'subscriber');
    await join('l2', 'sip:b@x', 'publisher');
    await settle();
    expect(sent).toHaveLength(1); // still inside the window opened by the full-state NOTIFY
    clock.advance(200);
    await settle();
    expect(sent).toHaveLength(2);
    const partial = docs()[1];
    expect(partial).toMatchObject({
      state: 'partial',
      version: 2,
      pubsub: { publisherCount: 1, subscriberCount: 1 },
    });
    expect(partial.users.map((u) => u.entity).sort()).toEqual(['sip:a@x', 'sip:b@x']);
    expect(parseCSeq(getHeader(sent[1], 'CSeq')!).seq).toBe(parseCSeq(getHeader(sent[0], 'CSeq')!).seq + 1);

    await participants.delete(participantKey(CONF, 'l1'));
    await notifier.onRoster({
      type: 'left',
      conferenceId: CONF,
      participant: { legId: 'l1', aor: 'sip:a@x', role: 'subscriber', status: 'sendonly', joinedAt: 0 },
      at: 0,
    });
    clock.advance(200);
    await settle();
    expect(docs()[2]).toMatchObject({ version: 3, users: [{ entity: 'sip:a@x', state: 'deleted' }] });
  });

  it('ends the subscription on Expires: 0 with a terminated NOTIFY, and on expiry', async () => {
    const handled = await notifier.handle(subscribe({ expires: '60' }), flow);
    await handled.after?.();
    const toTag = parseNameAddr(getHeader(handled.response, 'To')!).params.tag!;
    const refresh = await notifier.handle(subscribe({ expires: '120', toTag, cseq: 2 }), flow);
    expect(refresh.response.status).toBe(200);
    await refresh.after?.();
    expect(getHeader(sent[1], 'Subscription-State')).toBe('active;expires=120');

    const replay = await notifier.handle(subscribe({ expires: '120', toTag, cseq: 2 }), flow);
    expect(replay.response).toMatchObject({ status: 500, reason: 'CSeq Out of Order' });
    const end = await notifier.handle(subscribe({ expires: '0', toTag, cseq: 3 }), flow);
    expect(end.response.status).toBe(200);
    await end.after?.();
    expect(getHeader(sent[2], 'Subscription-State')).toBe('terminated;reason=timeout');
    expect((await notifier.handle(subscribe({ expires: '60', toTag, cseq: 4 }), flow)).response.status).toBe(
      481,
    );

    const other = await notifier.handle(subscribe({ callId: 'other', expires: '60' }), flow);
    await other.after?.();
    clock.advance(61_000);
    expect(await notifier.sweep()).toBe(1);
    expect(getHeader(sent[sent.length - 1], 'Subscription-State')).toBe('terminated;reason=timeout');
  });

  it('drops a subscription whose NOTIFY is answered 481', async () => {
    const handled = await notifier.handle(subscribe(), flow);
    replyStatus = 481;
    await handled.after?.();
    expect(notifier.activeSubscriptions).toBe(0);
    await notifier.onRoster({
      type: 'joined',
      conferenceId: CONF,
      participant: { legId: 'x', aor: 'sip:x@x', role: 'publisher', status: 'recvonly', joinedAt: 0 },
      at: 0,
    });
    clock.advance(1_000);
    await settle();
    expect(sent).toHaveLength(1);
  });

  it('serves the topic directory at the factory URI: full state, then partial entries on changes', async () => {
    const directory = (opts: { expires?: string; toTag?: string; cseq?: number } = {}) =>
      createRequest({
        method: 'SUBSCRIBE',
        uri: 'sip:factory@example.net',
        from: { uri: 'sip:watcher@example.org', params: { tag: 'dtag' } },
        to: { uri: 'sip:factory@example.net', params: opts.toTag ? { tag: opts.toTag } : {} },
        callId: 'dir-call',
        cseq: opts.cseq ?? 1,
        contact: { uri: 'sip:watcher@127.0.0.1:5070', params: {} },
        headers: [
          { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKd' },
          { name: 'Event', value: 'pubsub-conferences' },
          ...(opts.expires !== undefined ? [{ name: 'Expires', value: opts.expires }] : []),
        ],
      });
    await participants.put(
      participantKey(CONF, 'l1'),
      participant('l1', 'sip:pub@example.org', 'publisher', 1),
    );
    const handled = await notifier.handle(directory(), flow);
    expect(handled.response.status).toBe(200);
    await handled.after?.();
    expect(getHeader(sent[0], 'Content-Type')).toBe('application/pubsub-conferences-info+xml');
    expect(getHeader(sent[0], 'Event')).toBe('pubsub-conferences');
    const full = parseDirectoryInfo(sent[0].body.toString());
    expect(full).toMatchObject({ entity: 'sip:factory@example.net', state: 'full', version: 1 });
    expect(full.conferences).toEqual([
      { entity: CONF_URI, state: 'full', topic: 'plant/7', publisherCount: 1, subscriberCount: 0 },
    ]);

    // A roster change updates the counts; a deleted conference shows as deleted.
    await participants.put(
      participantKey(CONF, 'l2'),
      participant('l2', 'sip:sub@example.org', 'subscriber', 2),
    );
    await notifier.onDirectory({ conferenceId: CONF });
    await notifier.onDirectory({ conferenceId: 'zzzzzzzzzzzzzzzz' });
    clock.advance(200);
    await settle();
    const partial = parseDirectoryInfo(sent[1].body.toString());
    expect(partial).toMatchObject({ state: 'partial', version: 2 });
    expect(partial.conferences.map((c) => [c.state, c.subscriberCount ?? null])).toEqual([
      ['full', 1],
      ['deleted', null],
    ]);

    // Only the factory URI has a directory.
    const wrong = await notifier.handle({ ...directory(), uri: CONF_URI }, flow);
    expect(wrong.response.status).toBe(404);
  });
});
