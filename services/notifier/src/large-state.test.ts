// State larger than one NOTIFY may carry (a directory of many topics, a roster of many participants)
// goes out in parts: a full-state NOTIFY of what fits, then partial NOTIFYs, one per rate window, each
// within maxNotifyBodyBytes, so that a watcher's view ends up complete.
import { type DirectoryInfo, parseConferenceInfo, parseDirectoryInfo } from '@sip-pubsub/events';
import { createLogger, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { FakeClock } from '@sip-pubsub/platform/testing';
import {
  conferenceRecordSchema,
  directoryShardKey,
  type IndexRecord,
  indexRecordSchema,
  type ParticipantRecord,
  participantKey,
  participantRecordSchema,
  retainedValuesSchema,
  rosterIndexKey,
  subscriptionRecordSchema,
} from '@sip-pubsub/proto';
import { createRequest, getHeader, type SipRequest } from '@sip-pubsub/sip';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConferenceNotifier } from './notifier.js';
import { RetainedValuesStore } from './retained-values.js';

const flow = { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5070 };
const MAX_BODY = 8_000;

/** A conference id (base32 letters, as the focus makes them) for each i. */
const idOf = (i: number) =>
  `conf${[...String(i).padStart(12, '0')].map((d) => 'abcdefghij'[Number(d)]).join('')}`;

describe('state larger than one NOTIFY', () => {
  let clock: FakeClock;
  let sent: SipRequest[];
  let notifier: ConferenceNotifier;
  let conferences: JsonBucket<typeof conferenceRecordSchema._output>;
  let records: JsonBucket<ParticipantRecord>;
  let indexes: JsonBucket<IndexRecord>;
  let retained: RetainedValuesStore;

  const addConference = async (i: number) => {
    const id = idOf(i);
    await conferences.create(id, {
      id,
      topic: `plant-${i}/line/temperature`,
      creator: 'sip:a@x',
      created: 0,
      policy: { onExistingTopic: 'redirect', invalidData: 'drop' },
    });
    await indexes.mutate(directoryShardKey(id), (cur) => ({ members: { ...cur?.members, [id]: { at: i } } }));
  };
  const addParticipant = async (conferenceId: string, i: number) => {
    const legId = `leg${i}`;
    const aor = `sip:sensor-${i}@example.org`;
    await records.put(participantKey(conferenceId, legId), {
      conferenceId,
      legId,
      callId: `call-${i}`,
      remoteTag: 'r',
      localTag: 'l',
      aor,
      contact: `sip:sensor-${i}-ua@127.0.0.1:5070`,
      remoteSeq: 1,
      role: 'subscriber',
      status: 'sendonly',
      relayId: 'relay',
      relayAddress: '127.0.0.1:1',
      media: { host: '127.0.0.1', port: 20000 },
      remoteMedia: { host: '127.0.0.1', port: 40000 },
      flow,
      joinedAt: i,
      answerVersion: 1,
    });
    await indexes.mutate(rosterIndexKey(conferenceId), (cur) => ({
      members: { ...cur?.members, [legId]: { role: 'subscriber', at: i } },
    }));
  };
  const subscribe = (uri: string, event: string) =>
    createRequest({
      method: 'SUBSCRIBE',
      uri,
      from: { uri: 'sip:watcher@example.org', params: { tag: 'wtag' } },
      to: { uri, params: {} },
      callId: `call-${event}`,
      cseq: 1,
      contact: { uri: 'sip:watcher@127.0.0.1:5070', params: {} },
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKs' },
        { name: 'Event', value: event },
      ],
    });
  const settle = async () => {
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  };
  /** Lets rate windows pass until no NOTIFY is left to send. */
  const drain = async () => {
    for (let round = 0; round < 200; round++) {
      const before = sent.length;
      clock.advance(200);
      await settle();
      if (sent.length === before && round > 2) return;
    }
  };
  const bodySizes = () => sent.map((r) => r.body.length);

  beforeEach(async () => {
    const kv = new InProcessKvStore();
    clock = new FakeClock(1_000_000);
    sent = [];
    conferences = new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema);
    records = new JsonBucket(await kv.bucket('participants'), participantRecordSchema);
    indexes = new JsonBucket<IndexRecord>(await kv.bucket('indexes'), indexRecordSchema);
    retained = new RetainedValuesStore(
      new JsonBucket(await kv.bucket('publications'), retainedValuesSchema),
      {
        ttlMs: 3_600_000,
        now: () => clock.now(),
      },
    );
    notifier = new ConferenceNotifier({
      domain: 'example.net',
      stores: {
        conferences,
        participants: records,
        subscriptions: new JsonBucket(await kv.bucket('subscriptions'), subscriptionRecordSchema),
        indexes,
      },
      send: async (req) => {
        sent.push(req);
        return 200;
      },
      logger: createLogger('test', { level: 'silent' }),
      minNotifyIntervalMs: 200,
      maxSubscriptionsPerConference: 10,
      maxNotifyBodyBytes: MAX_BODY,
      retained,
      clock,
    });
  });

  it('sends a directory of 400 topics as a full part and partial parts, each within the limit', async () => {
    for (let i = 0; i < 400; i++) await addConference(i);
    const handled = await notifier.handle(subscribe('sip:factory@example.net', 'pubsub-conferences'), flow);
    expect(handled.response.status).toBe(200);
    await handled.after?.();
    await drain();

    expect(sent.length).toBeGreaterThan(5);
    expect(Math.max(...bodySizes())).toBeLessThanOrEqual(MAX_BODY);
    const docs: DirectoryInfo[] = sent.map((r) => parseDirectoryInfo(r.body.toString()));
    expect(docs.map((d) => d.state)).toEqual(['full', ...docs.slice(1).map(() => 'partial')]);
    expect(docs.map((d) => d.version)).toEqual(docs.map((_, i) => i + 1));
    const seen = docs.flatMap((d) => d.conferences.map((c) => c.topic));
    expect(new Set(seen).size).toBe(400);
    expect(seen).toHaveLength(400);
    // Parts are filled, not trickled: no more than twice the fewest NOTIFYs the limit allows.
    const total = bodySizes().reduce((a, b) => a + b, 0);
    expect(sent.length).toBeLessThanOrEqual(2 * Math.ceil(total / MAX_BODY) + 1);
  });

  it('cuts a burst of directory changes into partial NOTIFYs within the limit', async () => {
    await addConference(0);
    const handled = await notifier.handle(subscribe('sip:factory@example.net', 'pubsub-conferences'), flow);
    await handled.after?.();
    expect(parseDirectoryInfo(sent[0].body.toString()).conferences).toHaveLength(1);
    for (let i = 1; i <= 300; i++) {
      await addConference(i);
      await notifier.onDirectory({ conferenceId: idOf(i) });
    }
    await drain();
    const partials = sent.slice(1).map((r) => parseDirectoryInfo(r.body.toString()));
    expect(partials.length).toBeGreaterThan(1);
    expect(Math.max(...bodySizes())).toBeLessThanOrEqual(MAX_BODY);
    expect(partials.every((d) => d.state === 'partial')).toBe(true);
    expect(new Set(partials.flatMap((d) => d.conferences.map((c) => c.entity))).size).toBe(300);
  });

  it('sends a roster of 200 participants in parts; every user arrives once', async () => {
    await addConference(0);
    const conf = idOf(0);
    for (let i = 0; i < 200; i++) await addParticipant(conf, i);
    const handled = await notifier.handle(subscribe(`sip:conf-${conf}@example.net`, 'conference'), flow);
    expect(handled.response.status).toBe(200);
    await handled.after?.();
    await drain();

    expect(getHeader(sent[0], 'Content-Type')).toBe('application/conference-info+xml');
    expect(Math.max(...bodySizes())).toBeLessThanOrEqual(MAX_BODY);
    const docs = sent.map((r) => parseConferenceInfo(r.body.toString()));
    expect(docs.length).toBeGreaterThan(2);
    expect(docs.map((d) => d.state)).toEqual(['full', ...docs.slice(1).map(() => 'partial')]);
    // The first part already counts everyone; only the users are spread over the parts.
    expect(docs[0].userCount).toBe(200);
    const users = docs.flatMap((d) => d.users.map((u) => u.entity));
    expect(users).toHaveLength(200);
    expect(new Set(users).size).toBe(200);
    expect(docs.flatMap((d) => d.users).every((u) => u.state === 'full')).toBe(true);
  });

  it('leaves state that fits in one NOTIFY as it was', async () => {
    for (let i = 0; i < 3; i++) await addConference(i);
    const handled = await notifier.handle(subscribe('sip:factory@example.net', 'pubsub-conferences'), flow);
    await handled.after?.();
    await drain();
    expect(sent).toHaveLength(1);
    expect(parseDirectoryInfo(sent[0].body.toString()).conferences).toHaveLength(3);
  });

  it('sends the retained values of a topic (pubsub-data) in parts; every name arrives once', async () => {
    await addConference(0);
    const conf = idOf(0);
    const records = Array.from({ length: 300 }, (_, i) => ({
      n: `urn:dev:ow:10e2073a01080063;sensor-${i}`,
      v: i,
      t: 1,
    }));
    await retained.addRtp(conf, records);
    const handled = await notifier.handle(subscribe(`sip:conf-${conf}@example.net`, 'pubsub-data'), flow);
    expect(handled.response.status).toBe(200);
    await handled.after?.();
    await drain();

    expect(getHeader(sent[0], 'Content-Type')).toBe('application/senml+json');
    expect(sent.length).toBeGreaterThan(2);
    expect(Math.max(...bodySizes())).toBeLessThanOrEqual(MAX_BODY);
    const names = sent.flatMap((r) => (JSON.parse(r.body.toString()) as { n: string }[]).map((x) => x.n));
    expect(names).toHaveLength(300);
    expect(new Set(names)).toEqual(new Set(records.map((r) => r.n)));
  });
});
