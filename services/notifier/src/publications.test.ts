// The event state compositor over the in-process KV with a fake clock: every RFC 3903 operation and error
// on the wire-level request, what a pack turns into (RTP packets, retained values, pubsub-data NOTIFYs),
// expiry once across two replicas, and a refresh with the old tag on a replica that did not create it.

import { AccessList, parseAccessList, parseConferenceInfo } from '@sip-pubsub/events';
import { LineAssembler, parseRtp, T140Receiver } from '@sip-pubsub/media';
import { createLogger, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { FakeClock } from '@sip-pubsub/platform/testing';
import {
  conferenceRecordSchema,
  indexRecordSchema,
  participantRecordSchema,
  publicationRecordSchema,
  publicationSourceSchema,
  publicationSourcesSchema,
  retainedValuesSchema,
  subscriptionRecordSchema,
} from '@sip-pubsub/proto';
import { encodeSenmlCbor, type ResolvedRecord } from '@sip-pubsub/senml';
import { createRequest, getHeader, type SipRequest, type SipResponse } from '@sip-pubsub/sip';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConferenceNotifier } from './notifier.js';
import { PublicationSourcesStore } from './publication-sources.js';
import { PublicationCompositor } from './publications.js';
import { PUBLISH_T140_PT, publisherSsrc } from './publish-source.js';
import { RetainedValuesStore } from './retained-values.js';
import { TopicDirectory } from './topic-directory.js';

const CONF = 'abcdefghijklmnop';
const CONF_URI = `sip:conf-${CONF}@example.net`;
const flow = { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5070 };
const logger = createLogger('test', { level: 'silent' });

interface Replica {
  compositor: PublicationCompositor;
  notifier: ConferenceNotifier;
  media: { conferenceId: string; ssrc: number; packets: Uint8Array[] }[];
  records: ResolvedRecord[][];
  notifies: SipRequest[];
  /** What the subscriber answers to NOTIFYs. */
  reply: number;
}

describe('PublicationCompositor', () => {
  let kv: InProcessKvStore;
  let clock: FakeClock;
  let retained: RetainedValuesStore;

  const replica = async (access?: AccessList, maxPublications?: number): Promise<Replica> => {
    const conferences = new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema);
    const publications = await kv.bucket('publications');
    const store = new RetainedValuesStore(new JsonBucket(publications, retainedValuesSchema), {
      ttlMs: 3_600_000,
      now: () => clock.now(),
    });
    const directory = new TopicDirectory();
    await directory.load(conferences);
    const sources = new PublicationSourcesStore(new JsonBucket(publications, publicationSourcesSchema));
    const r: Replica = { media: [], records: [], notifies: [], reply: 200 } as unknown as Replica;
    r.notifier = new ConferenceNotifier({
      domain: 'example.net',
      stores: {
        conferences,
        participants: new JsonBucket(await kv.bucket('participants'), participantRecordSchema),
        subscriptions: new JsonBucket(await kv.bucket('subscriptions'), subscriptionRecordSchema),
        indexes: new JsonBucket(await kv.bucket('indexes'), indexRecordSchema),
      },
      send: async (req) => {
        r.notifies.push(req);
        return r.reply;
      },
      logger,
      minNotifyIntervalMs: 200,
      maxSubscriptionsPerConference: 10,
      clock,
      retained: store,
      publicationSources: sources,
      topicDirectory: directory,
      publish: (req, f, identity) => r.compositor.handle(req, f, identity),
    });
    r.compositor = new PublicationCompositor({
      stores: {
        conferences,
        publications: new JsonBucket(publications, publicationRecordSchema),
        sources: new JsonBucket(publications, publicationSourceSchema),
      },
      retained: store,
      logger,
      maxPackBytes: 16_384,
      emitMedia: (conferenceId, ssrc, packets) => r.media.push({ conferenceId, ssrc, packets }),
      onRecords: (conferenceId, _topic, records) => {
        r.records.push(records);
        r.notifier.onData(conferenceId, records);
      },
      sources,
      onSource: (conferenceId, publisher) => r.notifier.onPublicationSource(conferenceId, publisher),
      ...(access ? { access: () => access } : {}),
      ...(maxPublications !== undefined ? { maxPublicationsPerConference: maxPublications } : {}),
      now: () => clock.now(),
    });
    return r;
  };

  beforeEach(async () => {
    kv = new InProcessKvStore();
    clock = new FakeClock(1_700_000_000_000);
    const conferences = new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema);
    await conferences.create(CONF, {
      id: CONF,
      topic: 'plant-7/boiler',
      creator: 'sip:a@x',
      created: 0,
      policy: { onExistingTopic: 'redirect', invalidData: 'drop' },
    });
    retained = new RetainedValuesStore(
      new JsonBucket(await kv.bucket('publications'), retainedValuesSchema),
      {
        ttlMs: 3_600_000,
        now: () => clock.now(),
      },
    );
  });

  let cseq = 1;
  const publish = (
    opts: {
      body?: string | Buffer;
      contentType?: string;
      ifMatch?: string;
      expires?: string;
      event?: string;
      uri?: string;
    } = {},
  ): SipRequest =>
    createRequest({
      method: 'PUBLISH',
      uri: opts.uri ?? CONF_URI,
      from: { uri: 'sip:sensor@example.org', params: { tag: 'ptag' } },
      to: { uri: opts.uri ?? CONF_URI, params: {} },
      callId: `pub-${cseq}`,
      cseq: cseq++,
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKp' },
        { name: 'Event', value: opts.event ?? 'pubsub-data' },
        ...(opts.expires !== undefined ? [{ name: 'Expires', value: opts.expires }] : []),
        ...(opts.ifMatch !== undefined ? [{ name: 'SIP-If-Match', value: opts.ifMatch }] : []),
      ],
      ...(opts.body !== undefined
        ? { body: opts.body, contentType: opts.contentType ?? 'application/senml+json' }
        : {}),
    });
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  const run = async (r: Replica, req: SipRequest): Promise<SipResponse> => {
    const handled = await r.notifier.handle(req, flow);
    await handled.after?.();
    await settle();
    return handled.response;
  };
  const pack = (v: number) => JSON.stringify([{ bn: 'urn:dev:boiler:', n: 'temp', u: 'Cel', v }]);
  const retainedValues = async () => (await retained.current(CONF)).map((r) => [r.n, r.v]);

  it('initial, refresh, modify and remove, each with its own tag, and 412 for a replaced or removed tag', async () => {
    const r = await replica();
    const initial = await run(r, publish({ body: pack(21), expires: '120' }));
    expect(initial.status).toBe(200);
    expect(getHeader(initial, 'Expires')).toBe('120');
    const etag1 = getHeader(initial, 'SIP-ETag')!;
    expect(etag1).toMatch(/^[0-9a-f]{24}$/);
    expect(await retainedValues()).toEqual([['urn:dev:boiler:temp', 21]]);

    const refreshed = await run(r, publish({ ifMatch: etag1, expires: '300' }));
    expect(refreshed.status).toBe(200);
    const etag2 = getHeader(refreshed, 'SIP-ETag')!;
    expect(etag2).not.toBe(etag1);
    expect(getHeader(refreshed, 'Expires')).toBe('300');
    // A refresh carries no new data: nothing entered the stream.
    expect(r.media).toHaveLength(1);
    expect((await run(r, publish({ ifMatch: etag1 }))).status).toBe(412);

    const modified = await run(r, publish({ ifMatch: etag2, body: pack(22) }));
    expect(modified.status).toBe(200);
    const etag3 = getHeader(modified, 'SIP-ETag')!;
    expect(getHeader(modified, 'Expires')).toBe('600'); // the default
    expect(await retainedValues()).toEqual([['urn:dev:boiler:temp', 22]]);
    expect(r.media).toHaveLength(2);
    // A modification replaces the state: names it no longer carries are no longer retained.
    const etag3b = getHeader(
      await run(
        r,
        publish({ ifMatch: etag3, body: JSON.stringify([{ n: 'urn:dev:boiler:pressure', v: 1 }]) }),
      ),
      'SIP-ETag',
    )!;
    expect(await retainedValues()).toEqual([['urn:dev:boiler:pressure', 1]]);

    const removed = await run(r, publish({ ifMatch: etag3b, expires: '0' }));
    expect(removed.status).toBe(200);
    expect(getHeader(removed, 'Expires')).toBe('0');
    expect(await retainedValues()).toEqual([]);
    expect((await run(r, publish({ ifMatch: etag3b }))).status).toBe(412);
    expect((await run(r, publish({ ifMatch: 'feedface', body: pack(1) }))).status).toBe(412);
    expect(r.compositor.activePublications).toBe(0);
  });

  it('answers each fault with the narrowest error', async () => {
    const r = await replica();
    const bad = await run(r, publish({ event: 'presence', body: pack(1) }));
    expect(bad.status).toBe(489);
    expect(getHeader(bad, 'Allow-Events')).toBe('pubsub-data');
    const brief = await run(r, publish({ body: pack(1), expires: '10' }));
    expect(brief.status).toBe(423);
    expect(getHeader(brief, 'Min-Expires')).toBe('30');
    const type = await run(r, publish({ body: '<x/>', contentType: 'application/pidf+xml' }));
    expect(type.status).toBe(415);
    expect(getHeader(type, 'Accept')).toBe('application/senml+json, application/senml+cbor');
    const senml = await run(r, publish({ body: JSON.stringify([{ n: 'x', v: 'warm' }]) }));
    expect(senml.status).toBe(400);
    expect(senml.reason).toMatch(/^Invalid SenML: record 0: .*v/);
    expect((await run(r, publish({ body: 'not json' }))).reason).toMatch(/^Invalid SenML: not valid JSON/);
    expect(
      (await run(r, publish({ uri: 'sip:conf-zzzzzzzzzzzzzzzz@example.net', body: pack(1) }))).status,
    ).toBe(404);
    expect((await run(r, publish())).status).toBe(400);
    expect((await run(r, publish({ body: pack(1), expires: '0' }))).status).toBe(400);
    // Every response to this out-of-dialog request has a To tag (RFC 3261 §8.2.6.2).
    expect(getHeader(bad, 'To')).toMatch(/;tag=/);
    // Longer than the maximum is lowered (RFC 3903 §6 step 5).
    expect(getHeader(await run(r, publish({ body: pack(1), expires: '999999' })), 'Expires')).toBe('86400');
    expect(r.media).toHaveLength(1);
  });

  it('accepts CBOR and puts the pack in the stream as JSON from the publisher SSRC, in sequence', async () => {
    const r = await replica();
    const cbor = encodeSenmlCbor([{ bn: 'urn:dev:boiler:', n: 'pressure', u: 'Pa', v: 101_325 }]);
    expect((await run(r, publish({ body: cbor, contentType: 'application/senml+cbor' }))).status).toBe(200);
    expect((await run(r, publish({ body: pack(23) }))).status).toBe(200);
    const ssrc = publisherSsrc('sip:sensor@example.org');
    expect(r.media.map((m) => m.ssrc)).toEqual([ssrc, ssrc]);
    const receiver = new T140Receiver({ t140Pt: PUBLISH_T140_PT });
    const lines = new LineAssembler();
    const got: string[] = [];
    const sequences: number[] = [];
    for (const m of r.media)
      for (const bytes of m.packets) {
        const packet = parseRtp(bytes);
        sequences.push(packet.sequenceNumber);
        const delivery = receiver.receive(packet);
        expect(delivery.lost).toBe(0);
        got.push(...lines.push(delivery.text).lines);
      }
    expect(sequences[1]).toBe((sequences[0] + 1) & 0xffff);
    expect(got.map((l) => JSON.parse(l))).toEqual([
      [{ bn: 'urn:dev:boiler:', n: 'pressure', u: 'Pa', v: 101_325 }],
      [{ bn: 'urn:dev:boiler:', n: 'temp', u: 'Cel', v: 23 }],
    ]);
  });

  it('times out unrefreshed state once, although two replicas track it', async () => {
    const a = await replica();
    const b = await replica();
    const res = await run(a, publish({ body: pack(30), expires: '30' }));
    const etag = getHeader(res, 'SIP-ETag')!;
    expect(await b.compositor.adopt(() => true)).toBe(1);
    clock.advance(29_999);
    expect(await a.compositor.sweep()).toBe(0);
    expect(await retainedValues()).toEqual([['urn:dev:boiler:temp', 30]]);
    clock.advance(1);
    const ended = (await a.compositor.sweep()) + (await b.compositor.sweep());
    expect(ended).toBe(1);
    expect(await retainedValues()).toEqual([]);
    expect((await run(b, publish({ ifMatch: etag }))).status).toBe(412);
  });

  it('a replica that did not create the state refreshes and modifies it with the old tag', async () => {
    const a = await replica();
    const etag = getHeader(await run(a, publish({ body: pack(40), expires: '60' })), 'SIP-ETag')!;
    const b = await replica(); // the new owner after the creator died: it only has KV
    await b.compositor.adopt(() => true);
    clock.advance(50_000);
    const refreshed = await run(b, publish({ ifMatch: etag, expires: '60' }));
    expect(refreshed.status).toBe(200);
    clock.advance(50_000); // past the first expiry, within the refreshed one
    expect(await b.compositor.sweep()).toBe(0);
    const modified = await run(b, publish({ ifMatch: getHeader(refreshed, 'SIP-ETag')!, body: pack(41) }));
    expect(modified.status).toBe(200);
    expect(await retainedValues()).toEqual([['urn:dev:boiler:temp', 41]]);
    // The stream continues where the first replica left it.
    const first = parseRtp(a.media[0].packets[0]).sequenceNumber;
    expect(parseRtp(b.media[0].packets[0]).sequenceNumber).toBe((first + 1) & 0xffff);
  });

  it('pubsub-data: first NOTIFY holds the retained values, later ones the records since, merged per window', async () => {
    const r = await replica();
    await run(r, publish({ body: JSON.stringify([{ n: 'urn:dev:a', v: 1 }]) }));
    const subscribe = createRequest({
      method: 'SUBSCRIBE',
      uri: CONF_URI,
      from: { uri: 'sip:watcher@example.org', params: { tag: 'wtag' } },
      to: { uri: CONF_URI, params: {} },
      callId: 'sub-call',
      cseq: 1,
      contact: { uri: 'sip:watcher@127.0.0.1:5070', params: {} },
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKs' },
        { name: 'Event', value: 'pubsub-data' },
      ],
    });
    const res = await run(r, subscribe);
    expect(res.status).toBe(200);
    expect(getHeader(res, 'Expires')).toBe('600');
    expect(r.notifies).toHaveLength(1);
    expect(getHeader(r.notifies[0], 'Event')).toBe('pubsub-data');
    expect(getHeader(r.notifies[0], 'Content-Type')).toBe('application/senml+json');
    expect(JSON.parse(r.notifies[0].body.toString())).toEqual([
      { n: 'urn:dev:a', v: 1, t: Math.floor(clock.now() / 1000) },
    ]);
    // Inside the rate-limit window: three records for two names become one NOTIFY with the latest of each.
    await run(r, publish({ body: JSON.stringify([{ n: 'urn:dev:a', v: 2 }]) }));
    await run(r, publish({ body: JSON.stringify([{ n: 'urn:dev:b', v: 5 }]) }));
    await run(r, publish({ body: JSON.stringify([{ n: 'urn:dev:a', v: 3 }]) }));
    expect(r.notifies).toHaveLength(1);
    clock.advance(200);
    await settle();
    expect(r.notifies).toHaveLength(2);
    expect(JSON.parse(r.notifies[1].body.toString()).map((x: ResolvedRecord) => [x.n, x.v])).toEqual([
      ['urn:dev:b', 5],
      ['urn:dev:a', 3],
    ]);
    expect(getHeader(r.notifies[1], 'Subscription-State')).toMatch(/^active;expires=/);
    // An Accept that excludes application/senml+json gets 406 naming it (PROFILE "Security").
    const refusedType = await r.notifier.handle(
      {
        ...subscribe,
        headers: [...subscribe.headers, { name: 'Accept', value: 'application/conference-info+xml' }],
      },
      flow,
    );
    expect(refusedType.response.status).toBe(406);
    expect(getHeader(refusedType.response, 'Accept')).toBe('application/senml+json');
    // An unknown package is refused with the list that includes pubsub-data.
    const other = await r.notifier.handle(
      {
        ...subscribe,
        headers: subscribe.headers.map((h) =>
          h.name === 'Event' ? { name: 'Event', value: 'presence' } : h,
        ),
      },
      flow,
    );
    expect(other.response.status).toBe(489);
    expect(getHeader(other.response, 'Allow-Events')).toBe('conference, pubsub-conferences, pubsub-data');
  });
  it('wildcard pubsub-data at the factory: records of matching topics only, names prefixed with the topic', async () => {
    const r = await replica();
    const factorySubscribe = (subject: string | undefined, callId: string) =>
      createRequest({
        method: 'SUBSCRIBE',
        uri: 'sip:factory@example.net',
        from: { uri: 'sip:watcher@example.org', params: { tag: 'wtag' } },
        to: { uri: 'sip:factory@example.net', params: {} },
        callId,
        cseq: 1,
        contact: { uri: 'sip:watcher@127.0.0.1:5070', params: {} },
        headers: [
          { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKw' },
          { name: 'Event', value: 'pubsub-data' },
          ...(subject !== undefined ? [{ name: 'Subject', value: subject }] : []),
        ],
      });
    expect((await run(r, factorySubscribe(undefined, 'w0'))).status).toBe(400);
    const bad = await run(r, factorySubscribe('plant-7/#/temp', 'w1'));
    expect(bad.status).toBe(400);
    expect(bad.reason).toMatch(/^Invalid Topic Filter: '#' must be the last segment/);
    expect(r.notifier.watchesWildcards).toBe(false);
    const ok = await run(r, factorySubscribe('plant-7/+/temp', 'w2'));
    expect(ok.status).toBe(200);
    expect(r.notifier.watchesWildcards).toBe(true);
    expect(r.notifies).toHaveLength(1);
    expect(JSON.parse(r.notifies[0].body.toString())).toEqual([]);
    clock.advance(200);
    r.notifier.onWildcardData('plant-7/boiler/temp', [{ n: 'urn:dev:a', t: 5, v: 1 }]);
    r.notifier.onWildcardData('plant-7/boiler/pressure', [{ n: 'urn:dev:b', t: 5, v: 2 }]);
    r.notifier.onWildcardData('plant-8/boiler/temp', [{ n: 'urn:dev:c', t: 5, v: 3 }]);
    await settle();
    expect(r.notifies).toHaveLength(2);
    expect(JSON.parse(r.notifies[1].body.toString())).toEqual([
      { n: 'plant-7/boiler/temp/urn:dev:a', t: 5, v: 1 },
    ]);
    // Unsubscribing takes the filter out of the index.
    const toTag = /;tag=([^;>]+)/.exec(getHeader(ok, 'To')!.split('>')[1] ?? '')![1];
    const unsubscribe = factorySubscribe('plant-7/+/temp', 'w2');
    unsubscribe.headers.push({ name: 'Expires', value: '0' });
    unsubscribe.headers = unsubscribe.headers.map((h) =>
      h.name === 'To'
        ? { name: 'To', value: `${h.value};tag=${toTag}` }
        : h.name === 'CSeq'
          ? { name: 'CSeq', value: '2 SUBSCRIBE' }
          : h,
    );
    expect((await run(r, unsubscribe)).status).toBe(200);
    expect(r.notifier.watchesWildcards).toBe(false);

    // A filter that covers a topic with retained values: its first NOTIFY holds them, topic-prefixed.
    await run(r, publish({ body: pack(7) }));
    const before = r.notifies.length;
    expect((await run(r, factorySubscribe('plant-7/#', 'w3'))).status).toBe(200);
    expect(JSON.parse(r.notifies[before].body.toString())).toMatchObject([
      { n: 'plant-7/boiler/urn:dev:boiler:temp', v: 7, u: 'Cel' },
    ]);
  });
  it('announces a PUBLISH source in the conference roster with its src-id, and its removal', async () => {
    const r = await replica();
    const watch = createRequest({
      method: 'SUBSCRIBE',
      uri: CONF_URI,
      from: { uri: 'sip:roster@example.org', params: { tag: 'rtag' } },
      to: { uri: CONF_URI, params: {} },
      callId: 'roster-call',
      cseq: 1,
      contact: { uri: 'sip:roster@127.0.0.1:5070', params: {} },
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr' },
        { name: 'Event', value: 'conference' },
      ],
    });
    expect((await run(r, watch)).status).toBe(200);
    expect(parseConferenceInfo(r.notifies[0].body.toString()).users).toEqual([]);
    clock.advance(200);
    const etag = getHeader(await run(r, publish({ body: pack(1) })), 'SIP-ETag')!;
    clock.advance(200);
    await settle();
    const joined = parseConferenceInfo(r.notifies[1].body.toString());
    expect(joined.state).toBe('partial');
    expect(joined.users).toHaveLength(1);
    expect(joined.users[0]).toMatchObject({
      entity: 'sip:sensor@example.org',
      state: 'full',
      role: 'publisher',
    });
    expect(joined.users[0].endpoints[0].media[0]).toMatchObject({
      type: 'text',
      srcId: publisherSsrc('sip:sensor@example.org'),
      status: 'sendonly',
    });
    expect(r.media[0].ssrc).toBe(joined.users[0].endpoints[0].media[0].srcId);
    await run(r, publish({ ifMatch: etag, expires: '0' }));
    clock.advance(200);
    await settle();
    const left = parseConferenceInfo(r.notifies[2].body.toString());
    expect(left.users).toEqual([{ entity: 'sip:sensor@example.org', state: 'deleted', endpoints: [] }]);
  });
  it('refuses PUBLISH with 403 to an identity the access list does not let publish, and others their state', async () => {
    const r = await replica(
      new AccessList(parseAccessList('allow alice publish plant-7/#\ndeny * publish plant-7/#'), 'allow'),
    );
    const denied = await r.notifier.handle(publish({ body: pack(1) }), flow, 'mallory');
    expect(denied.response.status).toBe(403);
    expect(denied.response.reason).toBe('Not Allowed To Publish To This Topic');
    const ok = await r.notifier.handle(publish({ body: pack(2) }), flow, 'alice');
    expect(ok.response.status).toBe(200);
    await ok.after?.();
    const etag = getHeader(ok.response, 'SIP-ETag')!;
    // Another identity cannot refresh or remove alice's state even with its tag.
    const stolen = await r.notifier.handle(publish({ ifMatch: etag, expires: '0' }), flow, 'bob');
    expect(stolen.response.status).toBe(403);
    expect(await retainedValues()).toEqual([['urn:dev:boiler:temp', 2]]);
    // The SSRC follows the authenticated identity, not the From header.
    expect(r.media[0].ssrc).toBe(publisherSsrc('alice'));
  });
  it('answers any body and content type with 200, 400 or 415 and a one-line reason, never throwing (fast-check)', async () => {
    const r = await replica();
    const body = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      fc
        .array(fc.record({ n: fc.string({ maxLength: 8 }), v: fc.oneof(fc.double(), fc.string()) }), {
          maxLength: 4,
        })
        .map((a) => JSON.stringify(a)),
      fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b)),
    );
    const type = fc.constantFrom(
      'application/senml+json',
      'application/senml+cbor',
      'text/plain',
      'application/senml+json; charset=utf-8',
    );
    await fc.assert(
      fc.asyncProperty(body, type, async (b, t) => {
        const handled = await r.notifier.handle(publish({ body: b, contentType: t }), flow);
        expect([200, 400, 415]).toContain(handled.response.status);
        expect(handled.response.reason).not.toMatch(/[\r\n]/);
        if (handled.response.status === 415) expect(getHeader(handled.response, 'Accept')).toBeDefined();
        await handled.after?.();
      }),
      { numRuns: 150 },
    );
  });
  it('refuses an initial PUBLISH beyond MAX_PUBLICATIONS_PER_CONFERENCE with 503, until one goes', async () => {
    const r = await replica(undefined, 2);
    const first = getHeader(await run(r, publish({ body: pack(1) })), 'SIP-ETag')!;
    expect((await run(r, publish({ body: pack(2) }))).status).toBe(200);
    const refused = await run(r, publish({ body: pack(3) }));
    expect(refused.status).toBe(503);
    expect(getHeader(refused, 'Retry-After')).toBe('60');
    // Refreshing what exists is still fine; removing one makes room.
    const refreshed = await run(r, publish({ ifMatch: first }));
    expect(refreshed.status).toBe(200);
    expect((await run(r, publish({ ifMatch: getHeader(refreshed, 'SIP-ETag')!, expires: '0' }))).status).toBe(
      200,
    );
    expect((await run(r, publish({ body: pack(4) }))).status).toBe(200);
  });
  it('takes many initial PUBLISHes to one topic at once: every one gets 200 and a roster endpoint', async () => {
    const r = await replica();
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        r.notifier.handle(
          publish({ body: JSON.stringify([{ n: `urn:dev:s${i}`, v: i }]) }),
          flow,
          `sensor-${i}`,
        ),
      ),
    );
    expect(results.map((h) => h.response.status)).toEqual(Array(30).fill(200));
    await Promise.all(results.map((h) => h.after?.()));
    expect(await retained.current(CONF)).toHaveLength(30);
    expect(r.compositor.activePublications).toBe(30);
  });
  it('pubsub-data subscriptions end like the others: timeout on expiry, and a NOTIFY answered 481', async () => {
    const r = await replica();
    const subscribe = (callId: string, expires: string) =>
      createRequest({
        method: 'SUBSCRIBE',
        uri: CONF_URI,
        from: { uri: 'sip:watcher@example.org', params: { tag: callId } },
        to: { uri: CONF_URI, params: {} },
        callId,
        cseq: 1,
        contact: { uri: 'sip:watcher@127.0.0.1:5070', params: {} },
        headers: [
          { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKe' },
          { name: 'Event', value: 'pubsub-data' },
          { name: 'Expires', value: expires },
        ],
      });
    const brief = await run(r, subscribe('brief', '10'));
    expect(brief.status).toBe(423);
    expect(getHeader(brief, 'Min-Expires')).toBe('30');
    expect((await run(r, subscribe('short', '30'))).status).toBe(200);
    expect((await run(r, subscribe('gone', '600'))).status).toBe(200);
    expect(r.notifier.activeSubscriptions).toBe(2);
    // Both watchers have left: their next NOTIFY is answered 481 and their subscriptions end.
    r.reply = 481;
    clock.advance(200);
    await run(r, publish({ body: pack(9) }));
    clock.advance(200);
    await settle();
    expect(r.notifier.activeSubscriptions).toBe(0);
    r.reply = 200;
    // A new short one times out: the sweep sends the final NOTIFY with reason=timeout.
    expect((await run(r, subscribe('short2', '30'))).status).toBe(200);
    clock.advance(30_000);
    expect(await r.notifier.sweep()).toBe(1);
    await settle();
    const last = r.notifies.at(-1)!;
    expect(getHeader(last, 'Subscription-State')).toBe('terminated;reason=timeout');
    expect(JSON.parse(last.body.toString())).toMatchObject([{ n: 'urn:dev:boiler:temp', v: 9 }]);
  });
});
