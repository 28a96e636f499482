// The idle sweep against a real Focus over the in-process KV, on a fake clock: what it ends, what it keeps,
// and joins racing with it. No bucket is listed (refuseListing on every bucket the focus and sweep read).
import {
  createLogger,
  InProcessBus,
  InProcessKvStore,
  JsonBucket,
  type KvBucket,
  type KvStore,
} from '@sip-pubsub/platform';
import { refuseListing } from '@sip-pubsub/platform/testing';
import {
  type ConferenceRecord,
  conferenceRecordSchema,
  conferenceWatchersSchema,
  counterSchema,
  DIRECTORY_SHARDS,
  type DirectoryEvent,
  decodeEvent,
  directoryEventSchema,
  directoryShardKey,
  directoryShardKeysOf,
  type IndexRecord,
  indexRecordSchema,
  type LegSpec,
  participantRecordSchema,
  REFERRALS_INDEX_KEY,
  rosterIndexKey,
  type SubscriptionRecord,
  subjects,
  subscriptionRecordSchema,
  topicRecordSchema,
  watchersIndexKey,
} from '@sip-pubsub/proto';
import { createRequest, getHeader, parseNameAddr, type SipRequest, type SipResponse } from '@sip-pubsub/sip';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Focus } from './focus.js';
import { IdleSweeper, STALE_CLOSING_MS } from './idle-sweeper.js';
import { watchParticipantDeletes } from './indexes.js';
import type { PlacedLeg, RelayDirectory } from './relays.js';

const TTL = 60_000;
const flow = { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5070 };

class GatedRelays implements RelayDirectory {
  allocated: LegSpec[] = [];
  released: string[] = [];
  /** When set, allocate waits for it. */
  gate: Promise<void> | undefined;
  async allocate(spec: LegSpec): Promise<PlacedLeg> {
    await this.gate;
    this.allocated.push(spec);
    return { relayId: 'r1', relayAddress: '127.0.0.1:1', host: '192.0.2.10', port: 20_000 };
  }
  async update(): Promise<void> {}
  async release(_a: string, _c: string, legId: string): Promise<boolean> {
    this.released.push(legId);
    return true;
  }
}

function offer(direction: string): string {
  return [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=text 40000 RTP/AVP 100 98',
    'a=rtpmap:98 t140/1000',
    'a=rtpmap:100 red/1000',
    'a=fmtp:100 98/98/98',
    `a=${direction}`,
    '',
  ].join('\r\n');
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('IdleSweeper (CONFERENCE_IDLE_TTL) with the focus', () => {
  let now: number;
  let kv: KvStore;
  let bus: InProcessBus;
  let relays: GatedRelays;
  let focus: Focus;
  let sweeper: IdleSweeper;
  let directory: DirectoryEvent[];
  let conferences: JsonBucket<ConferenceRecord>;
  let indexes: JsonBucket<IndexRecord>;
  let subscriptions: JsonBucket<SubscriptionRecord>;
  let participantsBucket: KvBucket;
  let stops: { stop(): void }[];
  let owned: boolean;

  let reads: number;
  /** Every bucket as a request path may use it (listing refused), its reads counted. */
  const bucket = async (name: string): Promise<KvBucket> => {
    const inner = refuseListing(await kv.bucket(name));
    return {
      ...inner,
      get: (key) => {
        reads++;
        return inner.get(key);
      },
    };
  };
  const makeSweeper = (ttlMs = TTL) =>
    new IdleSweeper({
      ttlMs,
      stores: {
        conferences,
        indexes,
        watchers: new JsonBucket(indexes.bucket, conferenceWatchersSchema),
        subscriptions,
      },
      owns: () => owned,
      terminate: (id, reason) => focus.terminateConference(id, reason),
      logger: createLogger('test', { level: 'silent' }),
      now: () => now,
    });

  beforeEach(async () => {
    now = 1_000_000;
    reads = 0;
    owned = true;
    kv = new InProcessKvStore();
    bus = new InProcessBus();
    relays = new GatedRelays();
    directory = [];
    stops = [];
    bus.subscribe(subjects.directory, (m) => {
      const e = decodeEvent(directoryEventSchema, m.data);
      if (e.ok) directory.push(e.value);
    });
    conferences = new JsonBucket(await bucket('conferences'), conferenceRecordSchema);
    indexes = new JsonBucket(await bucket('indexes'), indexRecordSchema);
    subscriptions = new JsonBucket(await bucket('subscriptions'), subscriptionRecordSchema);
    participantsBucket = await bucket('participants');
    sweeper = makeSweeper();
    focus = new Focus({
      domain: 'example.net',
      onExistingTopic: 'redirect',
      invalidData: 'drop',
      maxConferences: 100,
      maxLegsPerConference: 10,
      stores: {
        conferences,
        topics: new JsonBucket(await bucket('topics'), topicRecordSchema),
        participants: new JsonBucket(participantsBucket, participantRecordSchema),
        counters: new JsonBucket(await bucket('counters'), counterSchema),
        indexes,
      },
      bus,
      relays,
      logger: createLogger('test', { level: 'silent' }),
      mediaHost: '192.0.2.1',
      now: () => now,
      admits: (id) => sweeper.admits(id),
    });
    stops.push(
      await watchParticipantDeletes(participantsBucket, () => owned, [(c) => sweeper.participantLeft(c)]),
    );
  });
  afterEach(async () => {
    for (const s of stops) s.stop();
    await bus.close();
  });

  const handle = async (req: SipRequest): Promise<SipResponse> => {
    const res = await focus.handle(req, flow);
    if (!res) throw new Error('no response');
    return res;
  };
  const invite = (uri: string, opts: { subject?: string; sdp?: string; callId?: string } = {}) =>
    createRequest({
      method: 'INVITE',
      uri,
      from: { uri: 'sip:alice@example.org', params: { tag: `f-${opts.callId ?? 'x'}` } },
      to: { uri, params: {} },
      callId: opts.callId,
      contact: { uri: 'sip:alice@127.0.0.1:5070', params: {} },
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKidle' },
        ...(opts.subject ? [{ name: 'Subject', value: opts.subject }] : []),
      ],
      ...(opts.sdp ? { body: opts.sdp, contentType: 'application/sdp' } : {}),
    });
  const create = async (topic: string): Promise<{ uri: string; id: string }> => {
    const res = await handle(invite('sip:factory@example.net', { subject: topic }));
    expect(res.status).toBe(302);
    const uri = parseNameAddr(getHeader(res, 'Contact')!).uri;
    return { uri, id: /^sip:conf-([^@]+)@/.exec(uri)![1] };
  };
  const join = async (uri: string, callId: string) => {
    const res = await handle(invite(uri, { sdp: offer('sendonly'), callId }));
    return { res, toTag: parseNameAddr(getHeader(res, 'To')!).params.tag! };
  };
  const bye = (uri: string, callId: string, toTag: string) =>
    handle(
      createRequest({
        method: 'BYE',
        uri,
        from: { uri: 'sip:alice@example.org', params: { tag: `f-${callId}` } },
        to: { uri, params: { tag: toTag } },
        callId,
        cseq: 2,
        headers: [{ name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKbye' }],
      }),
    );
  const settle = async () => {
    await flush();
    await sweeper.settled();
  };
  const ended = (id: string) => directory.some((e) => e.type === 'deleted' && e.conferenceId === id);
  const watcher = async (conferenceId: string, key: string, expiresAt: number) => {
    const record: SubscriptionRecord = {
      id: key.split('.')[1],
      package: 'conference',
      resourceKey: conferenceId,
      resourceUri: `sip:${conferenceId}@example.net`,
      subscriber: 'sip:w@example.org',
      status: 'active',
      expiresAt,
      version: 1,
      dialog: {
        callId: 'w',
        localTag: 'a',
        remoteTag: 'b',
        localUri: 'sip:x@example.net',
        remoteUri: 'sip:w@example.org',
        remoteTarget: 'sip:w@127.0.0.1',
        routeSet: [],
        localSeq: 1,
        secure: false,
      },
      flow,
      createdAt: now,
    };
    await subscriptions.put(key, record);
    await new JsonBucket(indexes.bucket, conferenceWatchersSchema).put(watchersIndexKey(conferenceId), {
      members: { [key]: { at: now } },
    });
  };

  it('a topic created and never used is ended TTL after creation, as an explicit end: 404, topic free', async () => {
    const { uri, id } = await create('idle/never');
    now += TTL - 1;
    expect(await sweeper.sweep()).toEqual({ owned: 1, idle: 1, ended: 0 });
    expect(ended(id)).toBe(false);
    now += 1;
    expect(await sweeper.sweep()).toEqual({ owned: 1, idle: 1, ended: 1 });
    expect(ended(id)).toBe(true);
    expect(await conferences.get(id)).toBeNull();
    expect(await indexes.get(watchersIndexKey(id))).toBeNull();
    expect((await join(uri, 'late')).res.status).toBe(404);
    expect(relays.allocated).toHaveLength(0);
    const again = await create('idle/never');
    expect(again.id).not.toBe(id);
  });

  it('joined then left: due TTL after the leave (the BYE stamps activeAt), not after creation', async () => {
    const { uri, id } = await create('idle/left');
    now += TTL / 2;
    const { res, toTag } = await join(uri, 'c1');
    expect(res.status).toBe(200);
    expect((await sweeper.sweep()).ended).toBe(0);
    now += TTL; // past creation + TTL, with the participant still there
    expect((await sweeper.sweep()).ended).toBe(0);
    const leftAt = now;
    expect((await bye(uri, 'c1', toTag)).status).toBe(200);
    await settle();
    expect((await conferences.get(id))?.value.activeAt).toBe(leftAt);
    now = leftAt + TTL - 1;
    expect((await sweeper.sweep()).ended).toBe(0);
    now = leftAt + TTL;
    expect((await sweeper.sweep()).ended).toBe(1);
    expect(ended(id)).toBe(true);
  });

  it('a re-join before the deadline keeps it; the deadline then runs from the second leave', async () => {
    const { uri, id } = await create('idle/rejoin');
    const first = await join(uri, 'c1');
    await bye(uri, 'c1', first.toTag);
    await settle();
    now += TTL - 1_000;
    const second = await join(uri, 'c2');
    expect(second.res.status).toBe(200);
    now += 2_000; // past the first leave's deadline
    expect((await sweeper.sweep()).ended).toBe(0);
    await bye(uri, 'c2', second.toTag);
    await settle();
    const leftAt = now;
    now = leftAt + TTL - 1;
    expect((await sweeper.sweep()).ended).toBe(0);
    now = leftAt + TTL;
    expect((await sweeper.sweep()).ended).toBe(1);
    expect(ended(id)).toBe(true);
  });

  it('a live watcher keeps it past the TTL; once the watch lapses it is ended', async () => {
    const { id } = await create('idle/watched');
    await watcher(id, `${id}.w1`, now + 2 * TTL);
    now += TTL + 1;
    expect((await sweeper.sweep()).ended).toBe(0);
    // The subscription expired unremoved (its notifier gone, so no leftAt): not a watcher any more, and
    // the idle time counts from the sweep that saw it gone (stored as activeAt).
    now += TTL;
    const lapsedSeenAt = now;
    expect((await sweeper.sweep()).ended).toBe(0);
    expect((await conferences.get(id))?.value.activeAt).toBe(lapsedSeenAt);
    now = lapsedSeenAt + TTL;
    expect((await sweeper.sweep()).ended).toBe(1);
    expect(ended(id)).toBe(true);
  });

  it('a watchers record member whose subscription is gone is no watcher; leftAt restarts the idle time', async () => {
    const { id } = await create('idle/stale-watcher');
    const leftAt = now + TTL / 2;
    await new JsonBucket(indexes.bucket, conferenceWatchersSchema).put(watchersIndexKey(id), {
      members: { [`${id}.gone`]: { at: now } },
      leftAt,
    });
    now = leftAt + TTL - 1;
    expect((await sweeper.sweep()).ended).toBe(0);
    now = leftAt + TTL;
    expect((await sweeper.sweep()).ended).toBe(1);
  });

  it('a REFER in progress (pending referral) keeps it', async () => {
    const { id } = await create('idle/referring');
    await indexes.put(REFERRALS_INDEX_KEY, { members: { [`${id}.r1`]: { at: now } } });
    now += 2 * TTL;
    expect((await sweeper.sweep()).ended).toBe(0);
    await indexes.delete(REFERRALS_INDEX_KEY);
    expect((await sweeper.sweep()).ended).toBe(0); // idle from the sweep that saw the referral finished
    now += TTL;
    expect((await sweeper.sweep()).ended).toBe(1);
  });

  it('TTL off: nothing is ended; conferences of other replicas are not touched', async () => {
    const { id } = await create('idle/off');
    now += 100 * TTL;
    expect(await makeSweeper(0).sweep()).toEqual({ owned: 0, idle: 0, ended: 0 });
    owned = false;
    expect(await sweeper.sweep()).toEqual({ owned: 0, idle: 0, ended: 0 });
    expect(await conferences.get(id)).not.toBeNull();
  });

  it('a new replica (no memory) judges by what KV holds: a restart between leave and deadline still ends it', async () => {
    const { uri, id } = await create('idle/restart');
    const { toTag } = await join(uri, 'c1');
    now += TTL;
    await bye(uri, 'c1', toTag);
    await settle();
    const leftAt = now;
    const successor = makeSweeper();
    now = leftAt + TTL - 1;
    expect((await successor.sweep()).ended).toBe(0);
    now = leftAt + TTL;
    expect((await successor.sweep()).ended).toBe(1);
    expect(ended(id)).toBe(true);
  });

  it('a sweep reads 3 records per owned conference plus 17, whatever the history of ended ones', async () => {
    const live: string[] = [];
    for (let i = 0; i < 10; i++) live.push((await create(`idle/cost-${i}`)).id);
    for (let i = 0; i < 30; i++) {
      const { id } = await create(`idle/gone-${i}`);
      await focus.terminateConference(id, 'ended by the test');
    }
    reads = 0;
    expect(await sweeper.sweep()).toEqual({ owned: 10, idle: 10, ended: 0 });
    // The directory shards and the pending-referrals index, then conference, roster and watchers records.
    expect(reads).toBe(DIRECTORY_SHARDS + 1 + 3 * live.length);
    owned = false;
    reads = 0;
    await sweeper.sweep();
    expect(reads).toBe(DIRECTORY_SHARDS + 1);
  });

  it('a conference a 16-shard version indexed: swept once, and its end clears that shard too', async () => {
    let made = await create('idle/earlier-0');
    let created = 1;
    while (directoryShardKeysOf(made.id).length < 2) made = await create(`idle/earlier-${created++}`);
    const [current, earlier] = directoryShardKeysOf(made.id);
    expect(current).toBe(directoryShardKey(made.id));
    // As an index written before the upgrade holds it: in its 16-shard place, and (re-added) in both.
    await indexes.mutate(earlier!, (cur) => ({ members: { ...cur?.members, [made.id]: { at: now } } }));
    const listed = async () => {
      const all = await Promise.all(directoryShardKeysOf(made.id).map((k) => indexes.get(k)));
      return all.filter((r) => r?.value.members[made.id]).length;
    };
    expect(await listed()).toBe(2);
    // Each conference counted once, though this one is listed by two shards.
    expect((await sweeper.sweep()).owned).toBe(created);
    await focus.terminateConference(made.id, 'ended by the test');
    expect(await listed()).toBe(0);
  });

  it('race: a join that took its roster place before the sweep looked keeps the conference', async () => {
    const { uri, id } = await create('idle/race-kept');
    now += 2 * TTL;
    const gate = deferred();
    relays.gate = gate.promise;
    const joining = join(uri, 'c1'); // reserves its place, passes admits(), waits for the relay
    for (let i = 0; i < 20 && !(await indexes.get(rosterIndexKey(id))); i++) await flush();
    expect((await sweeper.sweep()).ended).toBe(0);
    gate.resolve();
    expect((await joining).res.status).toBe(200);
    expect(ended(id)).toBe(false);
    expect((await conferences.get(id))?.value.closing).toBeUndefined();
  });

  it('race: a join arriving while the sweep ends the conference gets 404 and leaves nothing behind', async () => {
    const { uri, id } = await create('idle/race-refused');
    now += 2 * TTL;
    // The join reads the conference (still open) and is held there while the sweep runs to its end.
    const held = deferred();
    const read = conferences.get.bind(conferences);
    let holding = true;
    conferences.get = async (key) => {
      const value = await read(key);
      if (holding) {
        holding = false;
        await held.promise;
      }
      return value;
    };
    const joining = join(uri, 'c1');
    await flush();
    expect((await sweeper.sweep()).ended).toBe(1);
    held.resolve();
    const { res } = await joining;
    expect(res.status).toBe(404);
    expect(relays.allocated).toHaveLength(0);
    expect(await indexes.get(rosterIndexKey(id))).toBeNull();
  });

  it('race: while a sweep holds the closing mark, a join gets 404; a mark left by a dead sweep is lifted', async () => {
    const { uri, id } = await create('idle/closing');
    const mark = now;
    await conferences.mutate(id, (c) => (c ? { ...c, closing: mark } : undefined));
    expect((await join(uri, 'c1')).res.status).toBe(404);
    expect(relays.allocated).toHaveLength(0);
    // Within STALE_CLOSING_MS the mark belongs to a sweep at work and is left alone.
    now += 1_000;
    expect((await sweeper.sweep()).ended).toBe(0);
    expect((await conferences.get(id))?.value.closing).toBe(mark);
    // Later it is stale: not yet due, so the mark goes and joins are admitted again.
    now = mark + STALE_CLOSING_MS;
    expect((await sweeper.sweep()).ended).toBe(0);
    expect((await conferences.get(id))?.value.closing).toBeUndefined();
    expect((await join(uri, 'c2')).res.status).toBe(200);
  });

  it('a stale closing mark on a conference idle past its deadline: the sweep finishes the end', async () => {
    const { id } = await create('idle/closing-due');
    now += 2 * TTL;
    await conferences.mutate(id, (c) => (c ? { ...c, closing: now - STALE_CLOSING_MS } : undefined));
    expect((await sweeper.sweep()).ended).toBe(1);
    expect(ended(id)).toBe(true);
  });
});
