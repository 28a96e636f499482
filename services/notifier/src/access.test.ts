import { AccessList, parseAccessList, parseDirectoryInfo } from '@sip-pubsub/events';
import { createLogger, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { FakeClock } from '@sip-pubsub/platform/testing';
import {
  type ConferenceRecord,
  conferenceRecordSchema,
  directoryShardKey,
  indexRecordSchema,
  participantRecordSchema,
  subscriptionRecordSchema,
} from '@sip-pubsub/proto';
import { createRequest, getHeader, parseNameAddr, type SipRequest } from '@sip-pubsub/sip';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConferenceNotifier } from './notifier.js';

const conference = (id: string, topic: string): ConferenceRecord => ({
  id,
  topic,
  creator: 'sip:a@x',
  created: 0,
  policy: { onExistingTopic: 'redirect', invalidData: 'drop' },
});

describe('ConferenceNotifier identity and access', () => {
  let sent: SipRequest[];
  let notifier: ConferenceNotifier;
  let acl: AccessList;
  let conferences: JsonBucket<ConferenceRecord>;

  beforeEach(async () => {
    const kv = new InProcessKvStore();
    sent = [];
    conferences = new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema);
    await conferences.create('aaaaaaaaaaaaaaaa', conference('aaaaaaaaaaaaaaaa', 'public/temp'));
    await conferences.create('bbbbbbbbbbbbbbbb', conference('bbbbbbbbbbbbbbbb', 'secret/temp'));
    // The directory lists conferences from its index shards (no request lists a bucket).
    const indexes = new JsonBucket(await kv.bucket('indexes'), indexRecordSchema);
    for (const id of ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb'])
      await indexes.mutate(directoryShardKey(id), (cur) => ({
        members: { ...cur?.members, [id]: { at: 0 } },
      }));
    acl = new AccessList(parseAccessList('deny bob watch secret/#\nallow * watch #'), 'deny');
    notifier = new ConferenceNotifier({
      domain: 'example.net',
      stores: {
        conferences,
        participants: new JsonBucket(await kv.bucket('participants'), participantRecordSchema),
        subscriptions: new JsonBucket(await kv.bucket('subscriptions'), subscriptionRecordSchema),
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
      access: () => acl,
    });
  });

  const subscribe = (
    uri: string,
    event: string,
    o: { toTag?: string; cseq?: number; expires?: string } = {},
  ) =>
    createRequest({
      method: 'SUBSCRIBE',
      uri,
      from: { uri: 'sip:watcher@example.org', params: { tag: 'wtag' } },
      to: { uri, params: o.toTag ? { tag: o.toTag } : {} },
      callId: `sub-${uri}`,
      cseq: o.cseq ?? 1,
      contact: { uri: 'sip:watcher@127.0.0.1:5070', params: {} },
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKs' },
        { name: 'Event', value: event },
        { name: 'Expires', value: o.expires ?? '600' },
      ],
    });
  const as = (identity: string, req: SipRequest) =>
    notifier.handle(req, { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5070 }, identity);

  it('refuses watching a topic the list denies, with a reason; allows the others', async () => {
    const secret = await as('bob', subscribe('sip:conf-bbbbbbbbbbbbbbbb@example.net', 'conference'));
    expect(secret.response).toMatchObject({ status: 403, reason: 'Not Allowed To Watch This Topic' });
    expect(
      (await as('alice', subscribe('sip:conf-bbbbbbbbbbbbbbbb@example.net', 'conference'))).response.status,
    ).toBe(200);
    expect(
      (await as('bob', subscribe('sip:conf-aaaaaaaaaaaaaaaa@example.net', 'conference'))).response.status,
    ).toBe(200);
  });

  it('the directory shows each watcher only the topics it may watch', async () => {
    const topicsSeen = async (identity: string) => {
      sent = [];
      const req = subscribe('sip:factory@example.net', 'pubsub-conferences');
      req.headers = req.headers.map((h) => (h.name === 'Call-ID' ? { ...h, value: `dir-${identity}` } : h));
      const handled = await as(identity, req);
      expect(handled.response.status).toBe(200);
      await handled.after?.();
      return parseDirectoryInfo(sent[0].body.toString())
        .conferences.map((c) => c.topic)
        .sort();
    };
    expect(await topicsSeen('alice')).toEqual(['public/temp', 'secret/temp']);
    expect(await topicsSeen('bob')).toEqual(['public/temp']);
  });

  it('only the identity that subscribed may refresh or end the subscription', async () => {
    const uri = 'sip:conf-aaaaaaaaaaaaaaaa@example.net';
    const created = await as('alice', subscribe(uri, 'conference'));
    const toTag = parseNameAddr(getHeader(created.response, 'To')!).params.tag!;
    const hijack = await as('bob', subscribe(uri, 'conference', { toTag, cseq: 2, expires: '0' }));
    expect(hijack.response).toMatchObject({
      status: 403,
      reason: 'Subscription Belongs To Another Identity',
    });
    // After a reload that denies alice, her refresh is refused but she can still unsubscribe.
    acl = new AccessList(parseAccessList('deny alice watch #'), 'allow');
    expect((await as('alice', subscribe(uri, 'conference', { toTag, cseq: 3 }))).response.status).toBe(403);
    expect(
      (await as('alice', subscribe(uri, 'conference', { toTag, cseq: 4, expires: '0' }))).response.status,
    ).toBe(200);
  });
});
