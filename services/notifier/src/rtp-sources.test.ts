import { buildConferenceInfo, parseConferenceInfo } from '@sip-pubsub/events';
import { InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  type ParticipantRecord,
  type RtpSources,
  rtpSourcesKey,
  rtpSourcesSchema,
} from '@sip-pubsub/proto';
import { describe, expect, it } from 'vitest';
import { conferenceDocument } from './roster-document.js';
import { RtpSourcesStore } from './rtp-sources.js';

describe('RtpSourcesStore', () => {
  const store = async () => {
    const bucket = new JsonBucket<RtpSources>(
      await new InProcessKvStore().bucket('publications'),
      rtpSourcesSchema,
    );
    return { bucket, sources: new RtpSourcesStore(bucket) };
  };

  it('stores a leg SSRC once, again when it changes, and forgets it when the leg leaves', async () => {
    const { bucket, sources } = await store();
    const first = sources.observe('c1', 'leg-a', 0xdeadbeef);
    expect(first.changed).toBe(true);
    if (first.changed) await first.stored;
    // The same SSRC again is a map lookup, not a write.
    expect(sources.observe('c1', 'leg-a', 0xdeadbeef).changed).toBe(false);
    const revision = (await bucket.get(rtpSourcesKey('c1')))?.revision;
    const second = sources.observe('c1', 'leg-b', 7);
    if (second.changed) await second.stored;
    expect([...(await sources.of('c1'))]).toEqual([
      ['leg-a', 0xdeadbeef],
      ['leg-b', 7],
    ]);
    expect((await bucket.get(rtpSourcesKey('c1')))?.revision).not.toBe(revision);
    const changed = sources.observe('c1', 'leg-a', 9);
    expect(changed.changed).toBe(true);
    if (changed.changed) await changed.stored;
    expect((await sources.of('c1')).get('leg-a')).toBe(9);
    await sources.remove('c1', 'leg-a');
    await sources.remove('c1', 'leg-b');
    expect(await bucket.get(rtpSourcesKey('c1'))).toBeNull();
    // A leg that never published leaves without a write.
    await sources.remove('c1', 'leg-never');
    expect(await bucket.get(rtpSourcesKey('c1'))).toBeNull();
  });
});

describe('conference roster (RFC 4575)', () => {
  const conference: ConferenceRecord = {
    id: 'c1',
    topic: 'plant-7/boiler/temp',
    creator: 'sip:alice@example.net',
    created: 1,
    policy: { onExistingTopic: 'redirect', invalidData: 'drop' },
    maxUsers: 25,
    maxPublishers: 5,
    maxSubscribers: 20,
  };
  const participant = (legId: string, aor: string, role: ParticipantRecord['role'], joinedAt: number) =>
    ({
      conferenceId: 'c1',
      legId,
      callId: `call-${legId}`,
      remoteTag: 'r',
      localTag: 'l',
      aor,
      contact: `${aor.replace('sip:', 'sip:dev-')}`,
      remoteSeq: 1,
      role,
      status: (
        { publisher: 'recvonly', subscriber: 'sendonly', both: 'sendrecv', inactive: 'inactive' } as const
      )[role],
      relayId: 'r1',
      relayAddress: '127.0.0.1:1',
      media: { host: '127.0.0.1', port: 2 },
      remoteMedia: { host: '127.0.0.1', port: 3 },
      flow: { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 4 },
      joinedAt,
      answerVersion: 1,
    }) satisfies ParticipantRecord;

  it("shows each endpoint's own direction, on-hold for inactive, src-id of publishers and the cap", () => {
    const doc = parseConferenceInfo(
      buildConferenceInfo(
        conferenceDocument(
          'sip:conf-c1@example.net',
          conference,
          [
            participant('p', 'sip:meter@example.net', 'publisher', 1),
            participant('s', 'sip:screen@example.net', 'subscriber', 2),
            participant('b', 'sip:both@example.net', 'both', 3),
            participant('i', 'sip:idle@example.net', 'inactive', 4),
          ],
          1,
          undefined,
          [],
          // A subscriber's SSRC (its keep-alives) is no source of the topic and is not shown.
          new Map([
            ['p', 1234],
            ['b', 0xffff_ffff],
            ['s', 99],
          ]),
        ),
      ),
    );
    expect(doc.maximumUserCount).toBe(25);
    expect(doc.pubsub).toMatchObject({ maximumUserCountPublisher: 5, maximumUserCountSubscriber: 20 });
    const endpoints = doc.users.map((u) => [u.entity, u.endpoints[0].status, u.endpoints[0].media[0]]);
    expect(endpoints).toEqual([
      ['sip:meter@example.net', 'connected', { id: 'p', type: 'text', srcId: 1234, status: 'sendonly' }],
      ['sip:screen@example.net', 'connected', { id: 's', type: 'text', status: 'recvonly' }],
      [
        'sip:both@example.net',
        'connected',
        { id: 'b', type: 'text', srcId: 0xffff_ffff, status: 'sendrecv' },
      ],
      ['sip:idle@example.net', 'on-hold', { id: 'i', type: 'text', status: 'inactive' }],
    ]);
  });

  it('leaves maximum-user-count and the per-role caps out when the conference has none recorded', () => {
    const { maxUsers: _, maxPublishers: _p, maxSubscribers: _s, ...uncapped } = conference;
    const doc = parseConferenceInfo(
      buildConferenceInfo(conferenceDocument('sip:conf-c1@example.net', uncapped, [], 1)),
    );
    expect(doc.maximumUserCount).toBeUndefined();
    expect(doc.pubsub?.maximumUserCountPublisher).toBeUndefined();
    expect(doc.pubsub?.maximumUserCountSubscriber).toBeUndefined();
  });
});
