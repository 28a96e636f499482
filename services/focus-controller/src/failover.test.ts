import { EventEmitter } from 'node:events';
import { buildTextAnswer, createTextOffer, negotiateTextOffer, parseTextAnswer } from '@sip-pubsub/media';
import { createLogger, InProcessBus, InProcessKvStore, JsonBucket, type Member } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  conferenceRecordSchema,
  counterSchema,
  decodeEvent,
  indexRecordSchema,
  type LegSpec,
  type ParticipantRecord,
  participantKey,
  participantRecordSchema,
  type RosterEvent,
  rosterEventSchema,
  subjects,
  topicRecordSchema,
} from '@sip-pubsub/proto';
import {
  createRequest,
  createResponse,
  getHeader,
  parseNameAddr,
  type SipRequest,
  serializeMessage,
} from '@sip-pubsub/sip';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type ParticipantRequestSender,
  RelayFailover,
  type SentRequestOutcome,
  watchRelayDepartures,
} from './failover.js';
import { Focus } from './focus.js';
import { legSpecOf } from './participant.js';
import type { PlacedLeg, RelayDirectory } from './relays.js';

const CONF = 'c0nf';
const DEAD: Member = { id: 'relay-a', service: 'media-relay', address: '127.0.0.1:7001', meta: {} };

/** Places every new leg on relay-b, numbering ports. */
class SurvivingRelays implements RelayDirectory {
  allocated: LegSpec[] = [];
  updated: LegSpec[] = [];
  released: string[] = [];
  async allocate(spec: LegSpec): Promise<PlacedLeg> {
    this.allocated.push(spec);
    await Promise.resolve();
    return {
      relayId: 'relay-b',
      relayAddress: '127.0.0.1:7002',
      host: '192.0.2.20',
      port: 31_000 + this.allocated.length,
    };
  }
  async update(_address: string, spec: LegSpec): Promise<void> {
    this.updated.push(spec);
  }
  async release(address: string, _conferenceId: string, legId: string): Promise<boolean> {
    this.released.push(`${address}/${legId}`);
    return true;
  }
}

function participant(
  legId: string,
  role: ParticipantRecord['role'],
  over: Partial<ParticipantRecord> = {},
): ParticipantRecord {
  return {
    conferenceId: CONF,
    legId,
    callId: `call-${legId}`,
    remoteTag: `their-${legId}`,
    localTag: `ours-${legId}`,
    aor: `sip:${legId}@example.org`,
    contact: `sip:${legId}@198.51.100.9:5071`,
    remoteSeq: 1,
    role,
    status: role === 'publisher' ? 'recvonly' : role === 'subscriber' ? 'sendonly' : 'sendrecv',
    relayId: DEAD.id,
    relayAddress: DEAD.address,
    media: { host: '192.0.2.10', port: 30_000 },
    remoteMedia: { host: '198.51.100.9', port: 40_000 },
    flow: { transport: 'udp', remoteHost: '198.51.100.9', remotePort: 5071, edgeId: 'edge-0' },
    joinedAt: 1,
    answerVersion: 1,
    textMedia: { t140Pt: 96, redPt: 97, redundancy: 3, mode: 'translate', rtcpMux: true },
    ...over,
  };
}

/** Participants that answer a re-INVITE like the client SDK does, or with a fixed status. */
class Participants {
  requests: SipRequest[] = [];
  statuses: number[] = [];
  /** Moves its media to this port when answering. */
  answerPort = 40_000;
  send: ParticipantRequestSender = async (request) => {
    this.requests.push(request);
    await Promise.resolve();
    const status = this.statuses.shift() ?? 200;
    if (request.method !== 'INVITE' || status !== 200) return { status, reason: 'Scripted' };
    const offer = request.body.toString('utf8');
    const answer = buildTextAnswer(offer, negotiateTextOffer(offer), {
      address: '198.51.100.9',
      port: this.answerPort,
    });
    const ok = createResponse(request, 200, 'OK', { body: answer, contentType: 'application/sdp' });
    return { status: 200, reason: 'OK', response: ok } satisfies SentRequestOutcome;
  };
  invites(): SipRequest[] {
    return this.requests.filter((r) => r.method === 'INVITE');
  }
}

describe('RelayFailover', () => {
  let bus: InProcessBus;
  let participants: JsonBucket<ParticipantRecord>;
  let conferences: JsonBucket<ConferenceRecord>;
  let relays: SurvivingRelays;
  let peers: Participants;
  let roster: RosterEvent[];
  let owner: boolean;

  const failover = () =>
    new RelayFailover({
      domain: 'example.net',
      stores: { participants, conferences },
      relays,
      send: peers.send,
      bus,
      logger: createLogger('test', { level: 'silent' }),
      owns: (id) => owner && id === CONF,
      now: () => 1_000,
      glareBackoffMs: () => 0,
    });
  const put = (p: ParticipantRecord) => participants.put(participantKey(p.conferenceId, p.legId), p);
  const get = async (legId: string) => (await participants.get(participantKey(CONF, legId)))?.value;

  beforeEach(async () => {
    const kv = new InProcessKvStore();
    bus = new InProcessBus();
    participants = new JsonBucket(await kv.bucket('participants'), participantRecordSchema);
    conferences = new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema);
    await conferences.put(CONF, {
      id: CONF,
      topic: 'plant-7/boiler/temp',
      creator: 'sip:pub@example.org',
      created: 1,
      policy: { onExistingTopic: 'redirect', invalidData: 'forward' },
    });
    relays = new SurvivingRelays();
    peers = new Participants();
    roster = [];
    owner = true;
    bus.subscribe(subjects.rosterAll, (m) => {
      const e = decodeEvent(rosterEventSchema, m.data);
      if (e.ok) roster.push(e.value);
    });
  });
  afterEach(async () => {
    await bus.close();
  });

  it('re-INVITEs the participants of the departed relay with an offer for their new leg', async () => {
    await put(participant('pub', 'publisher'));
    await put(participant('sub', 'subscriber', { localSeq: 4 }));
    await put(participant('safe', 'subscriber', { relayId: 'relay-b', relayAddress: '127.0.0.1:7002' }));

    const summary = await failover().relaysLeft([DEAD]);
    expect(summary).toEqual({ moved: 2, removed: 0, skipped: 1 });

    // The same leg as before, on another relay.
    expect(relays.allocated.map((s) => s.legId).sort()).toEqual(['pub', 'sub']);
    expect(relays.allocated.find((s) => s.legId === 'pub')).toEqual(
      legSpecOf(participant('pub', 'publisher'), 'forward', { resumes: true }),
    );
    expect(relays.allocated.find((s) => s.legId === 'pub')).toMatchObject({
      publishes: true,
      subscribes: false,
      t140Pt: 96,
      redPt: 97,
      redundancy: 3,
      rtcpMux: true,
      remoteHost: '198.51.100.9',
      remotePort: 40_000,
      invalidData: 'INVALID_DATA_POLICY_FORWARD',
    });

    const invites = new Map(peers.invites().map((r) => [getHeader(r, 'Call-ID'), r]));
    expect([...invites.keys()].sort()).toEqual(['call-pub', 'call-sub']);
    const pub = invites.get('call-pub')!;
    const text = serializeMessage(pub).toString();
    expect(text).toMatch(/^INVITE sip:pub@198\.51\.100\.9:5071 SIP\/2\.0\r\n/);
    expect(getHeader(pub, 'From')).toBe('<sip:conf-c0nf@example.net>;tag=ours-pub');
    expect(getHeader(pub, 'To')).toBe('<sip:pub@example.org>;tag=their-pub');
    expect(getHeader(pub, 'CSeq')).toBe('1 INVITE');
    expect(getHeader(pub, 'Contact')).toBe('<sip:conf-c0nf@example.net>;isfocus');
    const offer = negotiateTextOffer(pub.body.toString('utf8'));
    const pubLeg = await get('pub');
    expect(offer).toMatchObject({
      address: '192.0.2.20',
      port: pubLeg!.media.port,
      direction: 'recvonly',
      t140Pt: 96,
      redPt: 97,
      rtcpMux: true,
    });
    expect(negotiateTextOffer(invites.get('call-sub')!.body.toString('utf8')).direction).toBe('sendonly');
    expect(getHeader(invites.get('call-sub')!, 'CSeq')).toBe('5 INVITE');

    expect(pubLeg).toMatchObject({
      relayId: 'relay-b',
      relayAddress: '127.0.0.1:7002',
      localSeq: 1,
      answerVersion: 2,
    });
    expect(await get('sub')).toMatchObject({ relayId: 'relay-b', localSeq: 5 });
    expect(await get('safe')).toEqual(
      participant('safe', 'subscriber', { relayId: 'relay-b', relayAddress: '127.0.0.1:7002' }),
    );
    expect(relays.released).toEqual([]);
    expect(roster).toEqual([]);
  });

  it('points the new leg at the address the participant answers with', async () => {
    await put(participant('sub', 'subscriber'));
    peers.answerPort = 40_002;
    await failover().relaysLeft([DEAD]);
    expect(relays.updated).toHaveLength(1);
    expect(relays.updated[0]).toMatchObject({ legId: 'sub', remotePort: 40_002 });
    expect((await get('sub'))?.remoteMedia).toEqual({ host: '198.51.100.9', port: 40_002 });
  });

  it('uses the client defaults for a record written before textMedia was kept', async () => {
    const { textMedia: _, ...old } = participant('pub', 'publisher');
    await put(old as ParticipantRecord);
    await failover().relaysLeft([DEAD]);
    const offer = negotiateTextOffer(peers.invites()[0].body.toString('utf8'));
    expect(offer).toMatchObject({ t140Pt: 98, redPt: 100, redundancy: 2 });
  });

  it('does nothing for conferences another replica owns', async () => {
    await put(participant('pub', 'publisher'));
    owner = false;
    expect(await failover().relaysLeft([DEAD])).toEqual({ moved: 0, removed: 0, skipped: 1 });
    expect(peers.requests).toEqual([]);
    expect(relays.allocated).toEqual([]);
  });

  it('removes a participant that refuses the move: new leg released, roster told, dialog ended with BYE', async () => {
    await put(participant('pub', 'publisher'));
    peers.statuses = [488, 200];
    expect(await failover().relaysLeft([DEAD])).toEqual({ moved: 0, removed: 1, skipped: 0 });
    expect(relays.released).toEqual(['127.0.0.1:7002/pub']);
    expect(await get('pub')).toBeUndefined();
    expect(roster).toEqual([
      expect.objectContaining({
        type: 'left',
        conferenceId: CONF,
        participant: expect.objectContaining({ legId: 'pub' }),
      }),
    ]);
    expect(peers.requests.map((r) => `${r.method} ${getHeader(r, 'CSeq')}`)).toEqual([
      'INVITE 1 INVITE',
      'BYE 2 BYE',
    ]);
  });

  it('sends no BYE when the re-INVITE ends the dialog (481)', async () => {
    await put(participant('pub', 'publisher'));
    peers.statuses = [481];
    await failover().relaysLeft([DEAD]);
    expect(peers.requests.map((r) => r.method)).toEqual(['INVITE']);
    expect(await get('pub')).toBeUndefined();
    expect(roster.map((e) => e.type)).toEqual(['left']);
  });

  it('tries again with the next CSeq after 491 Request Pending', async () => {
    await put(participant('pub', 'publisher'));
    peers.statuses = [491, 200];
    expect((await failover().relaysLeft([DEAD])).moved).toBe(1);
    expect(peers.invites().map((r) => getHeader(r, 'CSeq'))).toEqual(['1 INVITE', '2 INVITE']);
    expect(relays.allocated).toHaveLength(1);
    expect(await get('pub')).toMatchObject({ relayId: 'relay-b', localSeq: 2 });
  });

  it('moves each participant once when two replicas both believe they own the conference', async () => {
    for (const id of ['p1', 'p2', 'p3']) await put(participant(id, 'subscriber'));
    const [a, b] = await Promise.all([failover().relaysLeft([DEAD]), failover().relaysLeft([DEAD])]);
    expect(a.moved + b.moved).toBe(3);
    expect(peers.invites()).toHaveLength(3);
    // The loser of each race gave its leg back.
    expect(relays.released).toHaveLength(relays.allocated.length - 3);
    for (const id of ['p1', 'p2', 'p3'])
      expect(await get(id)).toMatchObject({ relayId: 'relay-b', localSeq: 1 });
  });

  it('offers what the participant can answer: parseTextAnswer reads the answer to our offer', async () => {
    await put(participant('both', 'both'));
    await failover().relaysLeft([DEAD]);
    const offer = peers.invites()[0].body.toString('utf8');
    expect(negotiateTextOffer(offer).direction).toBe('sendrecv');
    const answer = buildTextAnswer(offer, negotiateTextOffer(offer), {
      address: '198.51.100.9',
      port: 40_000,
    });
    expect(parseTextAnswer(answer).direction).toBe('sendrecv');
    expect(parseNameAddr(getHeader(peers.invites()[0], 'To')!).params.tag).toBe('their-both');
  });
});

describe('RelayFailover after a join through the Focus', () => {
  it('allocates exactly the leg the join allocated, and offers the payload types and options negotiated then', async () => {
    const kv = new InProcessKvStore();
    const bus = new InProcessBus();
    const stores = {
      conferences: new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema),
      topics: new JsonBucket(await kv.bucket('topics'), topicRecordSchema),
      participants: new JsonBucket(await kv.bucket('participants'), participantRecordSchema),
      counters: new JsonBucket(await kv.bucket('counters'), counterSchema),
      indexes: new JsonBucket(await kv.bucket('indexes'), indexRecordSchema),
    };
    const joined: LegSpec[] = [];
    const first: RelayDirectory = {
      allocate: async (spec) => {
        joined.push(spec);
        return { relayId: DEAD.id, relayAddress: DEAD.address, host: '192.0.2.10', port: 30_000 };
      },
      update: async () => {},
      release: async () => true,
    };
    const logger = createLogger('test', { level: 'silent' });
    const focus = new Focus({
      domain: 'example.net',
      onExistingTopic: 'redirect',
      invalidData: 'forward',
      maxConferences: 10,
      maxLegsPerConference: 10,
      stores,
      bus,
      relays: first,
      logger,
      mediaHost: '192.0.2.1',
    });
    const flow = { transport: 'udp', remoteHost: '198.51.100.9', remotePort: 5071 };
    const factory = createRequest({
      method: 'INVITE',
      uri: 'sip:factory@example.net',
      from: { uri: 'sip:sub@example.org', params: {} },
      to: { uri: 'sip:factory@example.net', params: {} },
      headers: [{ name: 'Subject', value: 'plant-1/mixer' }],
    });
    const redirect = await focus.handle(factory, flow);
    const conference = parseNameAddr(getHeader(redirect!, 'Contact')!).uri;
    const offer = createTextOffer({
      address: '198.51.100.9',
      port: 40_000,
      direction: 'recvonly',
      t140Pt: 111,
      redPt: 112,
      redundancy: 3,
      mixer: true,
      rtcpMux: true,
    });
    const join = createRequest({
      method: 'INVITE',
      uri: conference,
      from: { uri: 'sip:sub@example.org', params: {} },
      to: { uri: conference, params: {} },
      contact: { uri: 'sip:sub@198.51.100.9:5071', params: {} },
      body: offer,
      contentType: 'application/sdp',
    });
    const answered = (await focus.handle(join, flow))!;
    expect(answered.status).toBe(200);

    const relays = new SurvivingRelays();
    const peers = new Participants();
    const failover = new RelayFailover({
      domain: 'example.net',
      stores,
      relays,
      send: peers.send,
      bus,
      logger,
      owns: () => true,
    });
    expect((await failover.relaysLeft([DEAD])).moved).toBe(1);
    // The same leg, marked as resumed so the new relay does not greet it with retained values again.
    expect(relays.allocated).toEqual(joined.map((spec) => ({ ...spec, resumes: true })));
    const reoffer = negotiateTextOffer(peers.invites()[0].body.toString('utf8'));
    // RFC 3264 §8: the re-offer continues the session of our answer: same o= id, next version.
    const origin = (sdp: string) => /^o=\S+ (\d+) (\d+) /m.exec(sdp)!.slice(1, 3);
    const [answerId, answerVersion] = origin(answered.body.toString('utf8'));
    const [offerId, offerVersion] = origin(peers.invites()[0].body.toString('utf8'));
    expect(offerId).toBe(answerId);
    expect(Number(offerVersion)).toBe(Number(answerVersion) + 1);
    expect(reoffer).toMatchObject({
      t140Pt: 111,
      redPt: 112,
      redundancy: 3,
      mode: 'mix',
      rtcpMux: true,
      direction: 'sendonly',
    });
    // In the join's dialog: our From is its To, with the tag the 200 gave.
    const stored = (await stores.participants.get(participantKey(joined[0].conferenceId!, joined[0].legId!)))!
      .value;
    expect(parseNameAddr(getHeader(peers.invites()[0], 'From')!)).toEqual({
      uri: conference,
      params: { tag: stored.localTag },
    });
    await bus.close();
  });
});

describe('watchRelayDepartures', () => {
  class FakeMembership extends EventEmitter<{ change: [string] }> {
    relays: Member[] = [];
    focus: Member[] = [];
    members(service: string): Member[] {
      return service === 'media-relay' ? this.relays : this.focus;
    }
  }
  const relay = (id: string): Member => ({
    id,
    service: 'media-relay',
    address: `127.0.0.1:${id}`,
    meta: {},
  });

  it('reports the relays that left, not arrivals nor changes of other services', () => {
    const membership = new FakeMembership();
    const left: string[][] = [];
    watchRelayDepartures(membership, (gone) => left.push(gone.map((m) => m.id)));
    membership.relays = [relay('r1'), relay('r2')];
    membership.emit('change', 'media-relay');
    membership.focus = [];
    membership.relays = [relay('r2')];
    membership.emit('change', 'focus-controller'); // not ours to compare: r1 is still known
    expect(left).toEqual([]);
    membership.emit('change', 'media-relay');
    membership.relays = [relay('r2'), relay('r1')]; // it came back: not a trigger
    membership.emit('change', 'media-relay');
    membership.relays = [];
    membership.emit('change', 'media-relay');
    expect(left).toEqual([['r1'], ['r2', 'r1']]);
  });
});
