// The KV cost of a conference SUBSCRIBE (issue 11): the roster document is read from the conference's roster
// index record, whose entries show their participants, so a SUBSCRIBE and its first NOTIFY make the same
// KV operations in a conference of 1 and of 100 participants. Counted, not timed.
import { parseConferenceInfo } from '@sip-pubsub/events';
import { createLogger, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { CountingKvStore, FakeClock, refuseListing } from '@sip-pubsub/platform/testing';
import {
  conferenceRecordSchema,
  type IndexRecord,
  indexRecordSchema,
  type ParticipantRecord,
  participantKey,
  participantRecordSchema,
  rosterIndexKey,
  rosterShownOf,
  subscriptionRecordSchema,
} from '@sip-pubsub/proto';
import { createRequest, type SipRequest } from '@sip-pubsub/sip';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConferenceNotifier } from './notifier.js';

const SMALL = 'abcdefghijklmnop';
const LARGE = 'ponmlkjihgfedcba';
const flow = { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5070 };

function participant(conferenceId: string, i: number): ParticipantRecord {
  const aor = `sip:user${i}@example.org`;
  return {
    conferenceId,
    legId: `leg${String(i).padStart(3, '0')}`,
    callId: `call-${i}`,
    remoteTag: 'r',
    localTag: 'l',
    aor,
    displayName: `User ${i}`,
    contact: `sip:user${i}@127.0.0.1:5070`,
    remoteSeq: 1,
    role: i % 2 === 0 ? 'publisher' : 'subscriber',
    status: i % 2 === 0 ? 'recvonly' : 'sendonly',
    relayId: 'relay',
    relayAddress: '127.0.0.1:1',
    media: { host: '127.0.0.1', port: 20000 + i },
    remoteMedia: { host: '127.0.0.1', port: 40000 + i },
    flow,
    joinedAt: 1_000 + i,
    answerVersion: 1,
  };
}

describe('conference SUBSCRIBE: KV operations', () => {
  let kv: CountingKvStore;
  let sent: SipRequest[];
  let notifier: ConferenceNotifier;
  let records: JsonBucket<ParticipantRecord>;
  let indexes: JsonBucket<IndexRecord>;

  /** A participant as the focus leaves it once stored: its record, and its roster entry showing it. */
  const joined = async (p: ParticipantRecord) => {
    await records.put(participantKey(p.conferenceId, p.legId), p);
    await indexes.mutate(rosterIndexKey(p.conferenceId), (cur) => ({
      members: { ...cur?.members, [p.legId]: { role: p.role, at: p.joinedAt, shown: rosterShownOf(p) } },
    }));
  };

  beforeEach(async () => {
    kv = new CountingKvStore(new InProcessKvStore());
    sent = [];
    const conferences = new JsonBucket(refuseListing(await kv.bucket('conferences')), conferenceRecordSchema);
    records = new JsonBucket(refuseListing(await kv.bucket('participants')), participantRecordSchema);
    indexes = new JsonBucket(refuseListing(await kv.bucket('indexes')), indexRecordSchema);
    for (const [id, crowd] of [
      [SMALL, 1],
      [LARGE, 100],
    ] as const) {
      await conferences.create(id, {
        id,
        topic: `plant/${id}`,
        creator: 'sip:a@x',
        created: 0,
        policy: { onExistingTopic: 'redirect', invalidData: 'drop' },
      });
      for (let i = 0; i < crowd; i++) await joined(participant(id, i));
    }
    notifier = new ConferenceNotifier({
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
        return 200;
      },
      logger: createLogger('test', { level: 'silent' }),
      minNotifyIntervalMs: 0,
      maxSubscriptionsPerConference: 10,
      clock: new FakeClock(1_000_000),
    });
  });

  const subscribe = (conferenceId: string, callId: string) => {
    const uri = `sip:conf-${conferenceId}@example.net`;
    return createRequest({
      method: 'SUBSCRIBE',
      uri,
      from: { uri: 'sip:watcher@example.org', params: { tag: 'wtag' } },
      to: { uri, params: {} },
      callId,
      cseq: 1,
      contact: { uri: 'sip:watcher@127.0.0.1:5070', params: {} },
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKs' },
        { name: 'Event', value: 'conference' },
        { name: 'Expires', value: '600' },
      ],
    });
  };
  /** The SUBSCRIBE's 2xx and its first NOTIFY: what they cost, and the users that NOTIFY lists. */
  const cost = async (conferenceId: string, callId: string) => {
    const spent = await kv.during(async () => {
      const handled = await notifier.handle(subscribe(conferenceId, callId), flow);
      expect(handled.response.status).toBe(200);
      await handled.after?.();
    });
    const notify = sent.at(-1);
    expect(notify?.method).toBe('NOTIFY');
    return { spent, users: parseConferenceInfo(notify!.body.toString()).users };
  };

  it('is the same for a conference of 1 participant and one of 100', async () => {
    const small = await cost(SMALL, 'sub-small');
    const large = await cost(LARGE, 'sub-large');
    expect(small.users).toHaveLength(1);
    expect(large.users).toHaveLength(100);
    expect(large.users[7]).toMatchObject({ entity: 'sip:user7@example.org', displayText: 'User 7' });
    expect(large.spent).toEqual(small.spent);
    expect(small.spent.by['participants.get'] ?? 0).toBe(0);
  });

  it('reads the record of an entry that does not show its participant, and leaves out a leg still being set up', async () => {
    // Written before `shown` existed (or by an older focus): the record is read.
    const old = participant(SMALL, 50);
    await records.put(participantKey(SMALL, old.legId), old);
    await indexes.mutate(rosterIndexKey(SMALL), (cur) => ({
      members: { ...cur?.members, [old.legId]: { role: old.role, at: old.joinedAt } },
    }));
    // Reserved by a join in progress (no record yet): not in the roster.
    await indexes.mutate(rosterIndexKey(SMALL), (cur) => ({
      members: { ...cur?.members, leg999: { role: 'subscriber', at: 5 } },
    }));
    const { spent, users } = await cost(SMALL, 'sub-mixed');
    expect(users.map((u) => u.entity)).toEqual(['sip:user0@example.org', 'sip:user50@example.org']);
    expect(spent.by['participants.get']).toBe(2);
  });
});
