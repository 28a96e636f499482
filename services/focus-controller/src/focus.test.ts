import { createLogger, InProcessBus, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { refuseListing } from '@sip-pubsub/platform/testing';
import {
  conferenceRecordSchema,
  counterSchema,
  decodeEvent,
  indexRecordSchema,
  type LegSpec,
  participantRecordSchema,
  type RosterEvent,
  rosterEventSchema,
  subjects,
  topicRecordSchema,
} from '@sip-pubsub/proto';
import { createRequest, getHeader, parseNameAddr, type SipRequest, type SipResponse } from '@sip-pubsub/sip';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Focus, type FocusOptions } from './focus.js';
import { NoRelayAvailableError, type PlacedLeg, type RelayDirectory } from './relays.js';

class RecordingRelays implements RelayDirectory {
  allocated: LegSpec[] = [];
  updated: LegSpec[] = [];
  released: string[] = [];
  available = true;
  async allocate(spec: LegSpec): Promise<PlacedLeg> {
    if (!this.available) throw new NoRelayAvailableError();
    this.allocated.push(spec);
    return {
      relayId: 'relay-1',
      relayAddress: '127.0.0.1:1',
      host: '192.0.2.10',
      port: 20_000 + this.allocated.length,
    };
  }
  async update(_address: string, spec: LegSpec): Promise<void> {
    this.updated.push(spec);
  }
  async release(_address: string, _conferenceId: string, legId: string): Promise<boolean> {
    this.released.push(legId);
    return true;
  }
}

const flow = { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5070 };

function offer(direction: string, extra: string[] = []): string {
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
    ...extra,
    '',
  ].join('\r\n');
}

describe('Focus', () => {
  let bus: InProcessBus;
  let relays: RecordingRelays;
  let focus: Focus;
  let roster: RosterEvent[];
  let options: FocusOptions;

  beforeEach(async () => {
    bus = new InProcessBus();
    const kv = new InProcessKvStore();
    relays = new RecordingRelays();
    roster = [];
    bus.subscribe(subjects.rosterAll, (m) => {
      const e = decodeEvent(rosterEventSchema, m.data);
      if (e.ok) roster.push(e.value);
    });
    options = {
      domain: 'example.net',
      onExistingTopic: 'redirect',
      invalidData: 'drop',
      maxConferences: 3,
      maxLegsPerConference: 2,
      stores: {
        conferences: new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema),
        topics: new JsonBucket(await kv.bucket('topics'), topicRecordSchema),
        participants: new JsonBucket(refuseListing(await kv.bucket('participants')), participantRecordSchema),
        counters: new JsonBucket(await kv.bucket('counters'), counterSchema),
        indexes: new JsonBucket(await kv.bucket('indexes'), indexRecordSchema),
      },
      bus,
      relays,
      logger: createLogger('test', { level: 'silent' }),
      mediaHost: '192.0.2.1',
    };
    focus = new Focus(options);
  });
  afterEach(async () => {
    await bus.close();
  });

  const invite = (
    uri: string,
    opts: {
      subject?: string;
      sdp?: string;
      user?: string;
      callId?: string;
      fromTag?: string;
      toTag?: string;
      cseq?: number;
    } = {},
  ): SipRequest => {
    const headers = opts.subject !== undefined ? [{ name: 'Subject', value: opts.subject }] : [];
    return createRequest({
      method: 'INVITE',
      uri,
      from: {
        uri: `sip:${opts.user ?? 'alice'}@example.org`,
        params: opts.fromTag ? { tag: opts.fromTag } : {},
      },
      to: { uri, params: opts.toTag ? { tag: opts.toTag } : {} },
      callId: opts.callId,
      cseq: opts.cseq,
      contact: { uri: `sip:${opts.user ?? 'alice'}@127.0.0.1:5070`, params: {} },
      headers: [{ name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKtest1' }, ...headers],
      ...(opts.sdp ? { body: opts.sdp, contentType: 'application/sdp' } : {}),
    });
  };
  const handle = async (req: SipRequest): Promise<SipResponse> => {
    const res = await focus.handle(req, flow);
    if (!res) throw new Error('no response');
    return res;
  };
  const conferenceOf = async (topic: string): Promise<string> => {
    const res = await handle(invite('sip:factory@example.net', { subject: topic }));
    expect(res.status).toBe(302);
    return parseNameAddr(getHeader(res, 'Contact')!).uri;
  };

  it('creates one conference per topic (after NFC) and redirects every creator to it', async () => {
    const first = await conferenceOf('plant-7/caf\u00e9');
    const second = await conferenceOf('  plant-7/cafe\u0301 ');
    expect(first).toMatch(/^sip:conf-[a-z2-7]{16}@example\.net$/);
    expect(second).toBe(first);
    const res = await handle(invite('sip:factory@example.net', { subject: 'plant-7/other' }));
    expect(getHeader(res, 'Contact')).toMatch(/;isfocus$/);
    expect(parseNameAddr(getHeader(res, 'To')!).params.tag).toBeTruthy();
  });

  it('refuses a creation without a usable Subject with 400 naming the problem', async () => {
    expect(await handle(invite('sip:factory@example.net'))).toMatchObject({
      status: 400,
      reason: 'Missing Subject (the topic)',
    });
    expect(await handle(invite('sip:factory@example.net', { subject: 'a/+/b' }))).toMatchObject({
      status: 400,
    });
  });

  it('answers 409 with the existing URI when the policy rejects existing topics', async () => {
    const uri = await conferenceOf('t/1');
    focus = new Focus({ ...options, onExistingTopic: 'reject' });
    const res = await handle(invite('sip:factory@example.net', { subject: 't/1' }));
    expect(res.status).toBe(409);
    expect(parseNameAddr(getHeader(res, 'Contact')!).uri).toBe(uri);
  });

  it('refuses creation past MAX_CONFERENCES with 503', async () => {
    for (const t of ['a', 'b', 'c']) await conferenceOf(t);
    expect((await handle(invite('sip:factory@example.net', { subject: 'd' }))).status).toBe(503);
  });

  it('joins with the role from the SDP direction, answers with the relay address, and announces the roster', async () => {
    const conf = await conferenceOf('t/roles');
    const pub = await handle(
      invite(conf, { sdp: offer('sendonly'), user: 'pub', callId: 'c1', fromTag: 'f1' }),
    );
    expect(pub.status).toBe(200);
    expect(getHeader(pub, 'Contact')).toBe(`<${conf}>;isfocus`);
    const answer = pub.body.toString();
    expect(answer).toMatch(/^c=IN IP4 192\.0\.2\.10/m);
    expect(answer).toMatch(/^m=text 20001 RTP\/AVP 100 98/m);
    expect(answer).toMatch(/^a=recvonly/m);
    expect(relays.allocated[0]).toMatchObject({
      publishes: true,
      subscribes: false,
      remoteHost: '127.0.0.1',
      remotePort: 40000,
      t140Pt: 98,
      redPt: 100,
    });

    const sub = await handle(
      invite(conf, { sdp: offer('recvonly'), user: 'sub', callId: 'c2', fromTag: 'f2' }),
    );
    expect(sub.body.toString()).toMatch(/^a=sendonly/m);
    expect(relays.allocated[1]).toMatchObject({ publishes: false, subscribes: true });

    await bus.flush();
    await new Promise((r) => setTimeout(r, 10));
    expect(roster.map((e) => [e.type, e.participant.aor, e.participant.role])).toEqual([
      ['joined', 'sip:pub@example.org', 'publisher'],
      ['joined', 'sip:sub@example.org', 'subscriber'],
    ]);
  });

  it('changes the role on a re-INVITE and removes the participant on BYE', async () => {
    const conf = await conferenceOf('t/change');
    const ok = await handle(invite(conf, { sdp: offer('sendonly'), callId: 'c1', fromTag: 'f1' }));
    const toTag = parseNameAddr(getHeader(ok, 'To')!).params.tag!;
    const re = await handle(
      invite(conf, { sdp: offer('sendrecv'), callId: 'c1', fromTag: 'f1', toTag, cseq: 2 }),
    );
    expect(re.status).toBe(200);
    expect(re.body.toString()).toMatch(/^a=sendrecv/m);
    expect(relays.updated[0]).toMatchObject({ publishes: true, subscribes: true });
    // RFC 3264 §8: the answer to the re-INVITE keeps our o= session id and raises its version.
    const origin = (res: SipResponse) => /^o=\S+ (\d+) (\d+) /m.exec(res.body.toString())!.slice(1, 3);
    expect(origin(re)[0]).toBe(origin(ok)[0]);
    expect(Number(origin(re)[1])).toBe(Number(origin(ok)[1]) + 1);
    const replayed = await handle(
      invite(conf, { sdp: offer('recvonly'), callId: 'c1', fromTag: 'f1', toTag, cseq: 2 }),
    );
    expect(replayed).toMatchObject({ status: 500, reason: 'CSeq Out of Order' });
    expect(relays.updated).toHaveLength(1);

    const bye = createRequest({
      method: 'BYE',
      uri: conf,
      from: { uri: 'sip:alice@example.org', params: { tag: 'f1' } },
      to: { uri: conf, params: { tag: toTag } },
      callId: 'c1',
      cseq: 3,
      headers: [{ name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKbye' }],
    });
    const stale = {
      ...bye,
      headers: bye.headers.map((h) => (h.name === 'CSeq' ? { name: 'CSeq', value: '2 BYE' } : h)),
    };
    expect(await handle(stale)).toMatchObject({ status: 500, reason: 'CSeq Out of Order' });
    const wrongTag = {
      ...bye,
      headers: bye.headers.map((h) => (h.name === 'To' ? { name: 'To', value: `<${conf}>;tag=other` } : h)),
    };
    expect((await handle(wrongTag)).status).toBe(481);
    expect(relays.released).toHaveLength(0);
    expect((await handle(bye)).status).toBe(200);
    expect(relays.released).toHaveLength(1);
    expect((await handle(bye)).status).toBe(481);
    await new Promise((r) => setTimeout(r, 10));
    expect(roster.map((e) => e.type)).toEqual(['joined', 'changed', 'left']);
  });

  it('answers 488 with a Warning when no text media is offered, 404 for an unknown conference, 486 when full, 503 without relays', async () => {
    const conf = await conferenceOf('t/errors');
    const audio =
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
    const res = await handle(invite(conf, { sdp: audio }));
    expect(res.status).toBe(488);
    expect(getHeader(res, 'Warning')).toMatch(/^3\d\d example\.net ".+"$/);
    expect(
      (await handle(invite('sip:conf-aaaaaaaaaaaaaaaa@example.net', { sdp: offer('sendonly') }))).status,
    ).toBe(404);
    expect((await handle(invite(conf))).status).toBe(488);

    await handle(invite(conf, { sdp: offer('sendonly'), callId: 'x1', fromTag: 'a' }));
    await handle(invite(conf, { sdp: offer('sendonly'), callId: 'x2', fromTag: 'b' }));
    expect((await handle(invite(conf, { sdp: offer('sendonly'), callId: 'x3', fromTag: 'c' }))).status).toBe(
      486,
    );

    const other = await conferenceOf('t/no-relay');
    relays.available = false;
    const noRelay = await handle(invite(other, { sdp: offer('recvonly') }));
    expect(noRelay.status).toBe(503);
    expect(getHeader(noRelay, 'Retry-After')).toBe('5');
  });

  it("records a conference's cap at creation and holds it (the roster's maximum-user-count)", async () => {
    const conf = await conferenceOf('t/capped');
    const id = /conf-([^@]+)@/.exec(conf)![1];
    expect((await options.stores.conferences.get(id))?.value.maxUsers).toBe(2);
    // A focus configured with a higher cap later still admits no more than the conference's own.
    const roomier = new Focus({ ...options, maxLegsPerConference: 10 });
    const join = async (callId: string) =>
      (await roomier.handle(invite(conf, { sdp: offer('sendonly'), callId, fromTag: callId }), flow))?.status;
    expect(await join('y1')).toBe(200);
    expect(await join('y2')).toBe(200);
    expect(await join('y3')).toBe(486);
  });

  it('holds per-role caps recorded at creation: joins and role changes past them get 486', async () => {
    const capped = new Focus({
      ...options,
      maxLegsPerConference: 10,
      maxPublishersPerConference: 1,
      maxSubscribersPerConference: 1,
    });
    const handleCapped = async (req: SipRequest) => (await capped.handle(req, flow))!;
    const created = await handleCapped(invite('sip:factory@example.net', { subject: 't/roles' }));
    const conf = parseNameAddr(getHeader(created, 'Contact')!).uri;
    const id = /conf-([^@]+)@/.exec(conf)![1];
    expect((await options.stores.conferences.get(id))?.value).toMatchObject({
      maxPublishers: 1,
      maxSubscribers: 1,
    });
    const join = (direction: string, callId: string, toTag?: string, cseq?: number) =>
      handleCapped(invite(conf, { sdp: offer(direction), callId, fromTag: callId, toTag, cseq }));
    expect((await join('sendonly', 'p1')).status).toBe(200);
    const second = await join('sendonly', 'p2');
    expect([second.status, second.reason]).toEqual([486, 'Conference Full']);
    const subscriber = await join('recvonly', 's1');
    expect(subscriber.status).toBe(200);
    expect((await join('sendrecv', 'b1')).status).toBe(486);
    // The subscriber asks to publish too: refused, and it stays a subscriber.
    const tag = parseNameAddr(getHeader(subscriber, 'To')!).params.tag ?? undefined;
    const change = await join('sendrecv', 's1', tag, 2);
    expect([change.status, change.reason]).toEqual([486, 'Conference Full For That Role']);
    const stored = await options.stores.participants.get(
      `${id}.${roster.find((e) => e.participant.role === 'subscriber')!.participant.legId}`,
    );
    expect(stored?.value.role).toBe('subscriber');
    expect(relays.updated).toHaveLength(0);
  });

  it('answers a join with Accept next to the capabilities', async () => {
    const conf = await conferenceOf('t/accept');
    const res = await handle(invite(conf, { sdp: offer('sendonly') }));
    expect(res.status).toBe(200);
    expect(getHeader(res, 'Accept')).toContain('application/sdp');
  });

  it('answers OPTIONS with isfocus, the profile capabilities and an SDP body', async () => {
    const conf = await conferenceOf('t/options');
    const req = createRequest({
      method: 'OPTIONS',
      uri: conf,
      from: { uri: 'sip:alice@example.org', params: {} },
      to: { uri: conf, params: {} },
      headers: [{ name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKopt' }],
    });
    const res = await handle(req);
    expect(res.status).toBe(200);
    expect(getHeader(res, 'Contact')).toBe(`<${conf}>;isfocus`);
    expect(getHeader(res, 'Allow')).toContain('SUBSCRIBE');
    expect(getHeader(res, 'Allow-Events')).toBe('conference, refer, pubsub-conferences, pubsub-data');
    expect(getHeader(res, 'Supported')).toBe('replaces, join, norefersub, timer');
    expect(res.body.toString()).toMatch(/^m=text /m);
  });
});
