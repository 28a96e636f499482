import { createLogger, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  type ConferenceWatchers,
  conferenceRecordSchema,
  conferenceWatchersSchema,
  type SubscriptionRecord,
  subscriptionRecordSchema,
  watchersIndexKey,
} from '@sip-pubsub/proto';
import { beforeEach, describe, expect, it } from 'vitest';
import { dataResourceKey } from './data-package.js';
import { ConferenceWatcherIndex, watchedConferenceOf } from './watcher-index.js';

const subscription = (
  resourceKey: string,
  pkg: SubscriptionRecord['package'],
  status: SubscriptionRecord['status'] = 'active',
): SubscriptionRecord => ({
  id: 's',
  package: pkg,
  resourceKey,
  resourceUri: 'sip:conf-a@example.net',
  subscriber: 'sip:w@example.org',
  status,
  expiresAt: 10_000_000,
  version: 0,
  dialog: {
    callId: 'w',
    localTag: 'a',
    remoteTag: 'b',
    localUri: 'sip:conf-a@example.net',
    remoteUri: 'sip:w@example.org',
    remoteTarget: 'sip:w@127.0.0.1',
    routeSet: [],
    localSeq: 1,
    secure: false,
  },
  flow: { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5070 },
  createdAt: 0,
});

describe('ConferenceWatcherIndex (the watchers records of CONFERENCE_IDLE_TTL)', () => {
  let now: number;
  let watchers: JsonBucket<ConferenceWatchers>;
  let conferences: JsonBucket<ConferenceRecord>;
  let subscriptions: JsonBucket<SubscriptionRecord>;
  let index: ConferenceWatcherIndex;
  const owns = (id: string) => id !== 'conf-other';
  const record = async (id = 'conf-a') => (await watchers.get(watchersIndexKey(id)))?.value ?? null;

  beforeEach(async () => {
    now = 1_000;
    const kv = new InProcessKvStore();
    watchers = new JsonBucket(await kv.bucket('indexes'), conferenceWatchersSchema);
    conferences = new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema);
    subscriptions = new JsonBucket(await kv.bucket('subscriptions'), subscriptionRecordSchema);
    await conferences.put('conf-a', {
      id: 'conf-a',
      topic: 't',
      creator: 'sip:c@example.org',
      created: 0,
      policy: { onExistingTopic: 'redirect', invalidData: 'drop' },
    });
    index = new ConferenceWatcherIndex({
      watchers,
      conferences,
      logger: createLogger('test', { level: 'silent' }),
      now: () => now,
    });
  });

  it('knows which conference a subscription key watches; the directory and wildcards watch none', () => {
    expect(watchedConferenceOf('conf-a.s1')).toBe('conf-a');
    expect(watchedConferenceOf(`${dataResourceKey('conf-a')}.s1`)).toBe('conf-a');
    expect(watchedConferenceOf('factory.s1')).toBeUndefined();
    expect(watchedConferenceOf('factory-data.s1')).toBeUndefined();
    expect(watchedConferenceOf('no-dot')).toBeUndefined();
  });

  it('a roster or data subscription joins the record; a NOTIFY rewriting it costs no write; its end sets leftAt', async () => {
    index.observe('conf-a.s1', subscription('conf-a', 'conference'), owns);
    index.observe(
      `${dataResourceKey('conf-a')}.s2`,
      subscription(dataResourceKey('conf-a'), 'pubsub-data'),
      owns,
    );
    await index.settled();
    expect(await record()).toEqual({
      members: { 'conf-a.s1': { at: 1_000 }, 'conf-a-data.s2': { at: 1_000 } },
    });
    const revision = (await watchers.get(watchersIndexKey('conf-a')))!.revision;
    now = 2_000;
    index.observe('conf-a.s1', { ...subscription('conf-a', 'conference'), version: 5 }, owns);
    await index.settled();
    expect((await watchers.get(watchersIndexKey('conf-a')))!.revision).toBe(revision);
    now = 3_000;
    index.observe('conf-a.s1', null, owns);
    await index.settled();
    expect(await record()).toEqual({ members: { 'conf-a-data.s2': { at: 1_000 } }, leftAt: 3_000 });
    now = 4_000;
    // A record kept `terminated` only to carry a shared dialog is no watcher either.
    index.observe(
      'conf-a-data.s2',
      subscription(dataResourceKey('conf-a'), 'pubsub-data', 'terminated'),
      owns,
    );
    await index.settled();
    expect(await record()).toEqual({ members: {}, leftAt: 4_000 });
  });

  it('ignores the directory, wildcard watchers, conferences it does not own, and unknown removals', async () => {
    index.observe('factory.s1', subscription('factory', 'pubsub-conferences'), owns);
    index.observe('conf-other.s1', subscription('conf-other', 'conference'), owns);
    index.observe('conf-a.never', null, owns);
    await index.settled();
    expect(await record('conf-other')).toBeNull();
    expect(await record()).toBeNull();
  });

  it('the last watcher of a conference that was ended meanwhile takes the record with it', async () => {
    index.observe('conf-a.s1', subscription('conf-a', 'conference'), owns);
    await index.settled();
    await conferences.delete('conf-a');
    index.observe('conf-a.s1', null, owns);
    await index.settled();
    expect(await record()).toBeNull();
  });

  it('the conference ended (directory deleted): its record goes', async () => {
    index.observe('conf-a.s1', subscription('conf-a', 'conference'), owns);
    await index.settled();
    await index.conferenceEnded('conf-a');
    expect(await record()).toBeNull();
  });

  it('reconcile puts in the live watchers the watch missed (owned ones only)', async () => {
    await subscriptions.put('conf-a.s1', subscription('conf-a', 'conference'));
    await subscriptions.put('conf-a.s2', subscription('conf-a', 'conference', 'terminated'));
    await subscriptions.put('conf-other.s3', subscription('conf-other', 'conference'));
    await subscriptions.put('factory.s4', subscription('factory', 'pubsub-conferences'));
    expect(await index.reconcile(subscriptions, owns)).toBe(1);
    expect(await record()).toEqual({ members: { 'conf-a.s1': { at: 1_000 } } });
    expect(await record('conf-other')).toBeNull();
    // Known members are not read again.
    expect(await index.reconcile(subscriptions, owns)).toBe(0);
  });
});
