// The roster index entry of a joined participant shows it (proto `shown`), so the notifier builds a
// roster document from one read; and a join costs the same KV operations in a conference of 1 and of 100.
import { createLogger, InProcessBus, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { CountingKvStore, refuseListing } from '@sip-pubsub/platform/testing';
import {
  conferenceRecordSchema,
  counterSchema,
  type IndexRecord,
  indexRecordSchema,
  type ParticipantRecord,
  participantKey,
  participantRecordSchema,
  rosterIndexKey,
  rosterShownOf,
  topicRecordSchema,
} from '@sip-pubsub/proto';
import { createRequest, getHeader, parseNameAddr, type SipRequest } from '@sip-pubsub/sip';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Focus, legIdOf } from './focus.js';
import type { PlacedLeg, RelayDirectory } from './relays.js';

const relays: RelayDirectory = {
  allocate: async (): Promise<PlacedLeg> => ({
    relayId: 'relay-1',
    relayAddress: '127.0.0.1:1',
    host: '192.0.2.10',
    port: 20_000,
  }),
  update: async () => undefined,
  release: async () => true,
};
const flow = { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5070 };
const offer = (direction: string) =>
  [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=text 40000 RTP/AVP 98',
    'a=rtpmap:98 t140/1000',
    `a=${direction}`,
    '',
  ].join('\r\n');

describe('roster index entries', () => {
  let bus: InProcessBus;
  let kv: CountingKvStore;
  let focus: Focus;
  let participants: JsonBucket<ParticipantRecord>;
  let indexes: JsonBucket<IndexRecord>;

  beforeEach(async () => {
    bus = new InProcessBus();
    kv = new CountingKvStore(new InProcessKvStore());
    participants = new JsonBucket(refuseListing(await kv.bucket('participants')), participantRecordSchema);
    indexes = new JsonBucket(refuseListing(await kv.bucket('indexes')), indexRecordSchema);
    focus = new Focus({
      domain: 'example.net',
      onExistingTopic: 'redirect',
      invalidData: 'drop',
      maxConferences: 10,
      maxLegsPerConference: 1_000,
      stores: {
        conferences: new JsonBucket(refuseListing(await kv.bucket('conferences')), conferenceRecordSchema),
        topics: new JsonBucket(refuseListing(await kv.bucket('topics')), topicRecordSchema),
        participants,
        counters: new JsonBucket(refuseListing(await kv.bucket('counters')), counterSchema),
        indexes,
      },
      bus,
      relays,
      logger: createLogger('test', { level: 'silent' }),
      mediaHost: '192.0.2.1',
    });
  });
  afterEach(async () => {
    await bus.close();
  });

  const invite = (
    uri: string,
    o: { user: string; callId: string; toTag?: string; cseq?: number; sdp?: string },
  ) =>
    createRequest({
      method: 'INVITE',
      uri,
      from: {
        uri: `sip:${o.user}@example.org`,
        displayName: `The ${o.user}`,
        params: { tag: `t-${o.callId}` },
      },
      to: { uri, params: o.toTag ? { tag: o.toTag } : {} },
      callId: o.callId,
      cseq: o.cseq ?? 1,
      contact: { uri: `sip:${o.user}@127.0.0.1:5070`, params: {} },
      headers: [{ name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKtest1' }],
      ...(o.sdp !== undefined ? { body: o.sdp, contentType: 'application/sdp' } : {}),
    });
  const handle = async (req: SipRequest) => {
    const res = await focus.handle(req, flow);
    if (!res) throw new Error('no response');
    return res;
  };
  const conference = async (topic: string) => {
    const redirect = await handle(
      createRequest({
        method: 'INVITE',
        uri: 'sip:factory@example.net',
        from: { uri: 'sip:creator@example.org', params: { tag: 'c' } },
        to: { uri: 'sip:factory@example.net', params: {} },
        callId: `create-${topic}`,
        contact: { uri: 'sip:creator@127.0.0.1:5070', params: {} },
        headers: [
          { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc' },
          { name: 'Subject', value: topic },
        ],
      }),
    );
    expect(redirect.status).toBe(302);
    const uri = parseNameAddr(getHeader(redirect, 'Contact')!).uri;
    return { uri, id: /conf-([a-z2-7]+)@/.exec(uri)![1] };
  };
  const join = async (uri: string, user: string, callId: string, direction = 'recvonly') => {
    const ok = await handle(invite(uri, { user, callId, sdp: offer(direction) }));
    expect(ok.status).toBe(200);
    return ok;
  };

  it('shows a joined participant as its record does, and keeps that view through a role change', async () => {
    const conf = await conference('t/shown');
    const ok = await join(conf.uri, 'alice', 'a1');
    const legId = legIdOf('a1', 't-a1');
    const record = (await participants.get(participantKey(conf.id, legId)))!.value;
    const entry = (await indexes.get(rosterIndexKey(conf.id)))!.value.members[legId];
    expect(entry.role).toBe('subscriber');
    expect(entry.shown).toEqual(rosterShownOf(record));
    expect(entry.shown).toMatchObject({ aor: 'sip:alice@example.org', displayName: 'The alice' });

    // re-INVITE to publish: the entry takes the new role and still shows the participant.
    const toTag = parseNameAddr(getHeader(ok, 'To')!).params.tag!;
    const again = await handle(
      invite(conf.uri, { user: 'alice', callId: 'a1', toTag, cseq: 2, sdp: offer('sendonly') }),
    );
    expect(again.status).toBe(200);
    const changed = (await indexes.get(rosterIndexKey(conf.id)))!.value.members[legId];
    expect(changed.role).toBe('publisher');
    expect(changed.shown).toEqual(rosterShownOf(record));
  });

  it('costs the same KV operations per join in a conference of 1 and of 100', async () => {
    const cost = async (name: string, crowd: number) => {
      const conf = await conference(`t/${name}`);
      for (let i = 0; i < crowd; i++) await join(conf.uri, `u${i}`, `${name}-${i}`);
      return kv.during(() => join(conf.uri, 'last', `${name}-last`));
    };
    const small = await cost('small', 1);
    const large = await cost('large', 100);
    expect(small.total).toBeGreaterThan(0);
    expect(large).toEqual(small);
  });
});
