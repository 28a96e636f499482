// Replaces (RFC 3891), Join (RFC 3911), FACTORY_MODE=join, UPDATE role changes, INFO and conference
// termination in the focus, against in-process KV and bus (participants bucket refuses listing).
import { createLogger, InProcessBus, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { refuseListing } from '@sip-pubsub/platform/testing';
import {
  conferenceRecordSchema,
  counterSchema,
  type DirectoryEvent,
  decodeEvent,
  directoryEventSchema,
  indexRecordSchema,
  type LegSpec,
  participantKey,
  participantRecordSchema,
  type RosterEvent,
  rosterEventSchema,
  subjects,
  topicRecordSchema,
} from '@sip-pubsub/proto';
import {
  createRequest,
  getHeader,
  type HeaderField,
  parseNameAddr,
  type SipRequest,
  type SipResponse,
} from '@sip-pubsub/sip';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Focus, type FocusOptions, legIdOf } from './focus.js';
import type { PlacedLeg, RelayDirectory } from './relays.js';

class Relays implements RelayDirectory {
  allocated: LegSpec[] = [];
  updated: LegSpec[] = [];
  released: string[] = [];
  async allocate(spec: LegSpec): Promise<PlacedLeg> {
    this.allocated.push(spec);
    return {
      relayId: 'r1',
      relayAddress: '127.0.0.1:1',
      host: '192.0.2.10',
      port: 20_000 + this.allocated.length,
    };
  }
  async update(_a: string, spec: LegSpec): Promise<void> {
    this.updated.push(spec);
  }
  async release(_a: string, _c: string, legId: string): Promise<boolean> {
    this.released.push(legId);
    return true;
  }
}

const sdp = (direction: string) =>
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

interface Call {
  method?: string;
  user?: string;
  callId: string;
  fromTag: string;
  toTag?: string;
  cseq?: number;
  direction?: string;
  subject?: string;
  headers?: HeaderField[];
}

describe('call control in the focus', () => {
  let bus: InProcessBus;
  let relays: Relays;
  let options: FocusOptions;
  let focus: Focus;
  let roster: RosterEvent[];
  let directory: DirectoryEvent[];

  beforeEach(async () => {
    bus = new InProcessBus();
    const kv = new InProcessKvStore();
    relays = new Relays();
    roster = [];
    directory = [];
    bus.subscribe(subjects.rosterAll, (m) => {
      const e = decodeEvent(rosterEventSchema, m.data);
      if (e.ok) roster.push(e.value);
    });
    bus.subscribe(subjects.directory, (m) => {
      const e = decodeEvent(directoryEventSchema, m.data);
      if (e.ok) directory.push(e.value);
    });
    options = {
      domain: 'example.net',
      onExistingTopic: 'redirect',
      invalidData: 'drop',
      maxConferences: 10,
      maxLegsPerConference: 10,
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

  const request = (uri: string, c: Call): SipRequest =>
    createRequest({
      method: c.method ?? 'INVITE',
      uri,
      from: { uri: `sip:${c.user ?? 'alice'}@example.org`, params: { tag: c.fromTag } },
      to: { uri, params: c.toTag ? { tag: c.toTag } : {} },
      callId: c.callId,
      cseq: c.cseq ?? 1,
      contact: { uri: `sip:${c.user ?? 'alice'}@127.0.0.1:5070`, params: {} },
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKcc' },
        ...(c.subject ? [{ name: 'Subject', value: c.subject }] : []),
        ...(c.headers ?? []),
      ],
      ...(c.direction ? { body: sdp(c.direction), contentType: 'application/sdp' } : {}),
    });
  const send = async (uri: string, c: Call, identity = ''): Promise<SipResponse> => {
    const res = await focus.handle(
      request(uri, c),
      { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5070 },
      identity,
    );
    if (!res) throw new Error('no response');
    return res;
  };
  const conference = async (topic: string): Promise<string> => {
    const res = await send('sip:factory@example.net', { callId: `f-${topic}`, fromTag: 'x', subject: topic });
    expect(res.status).toBe(302);
    return parseNameAddr(getHeader(res, 'Contact')!).uri;
  };
  const toTagOf = (res: SipResponse) => parseNameAddr(getHeader(res, 'To')!).params.tag!;
  const idOf = (uri: string) => /conf-([a-z2-7]+)@/.exec(uri)![1];
  const stored = (uri: string, callId: string, tag: string) =>
    options.stores.participants.get(participantKey(idOf(uri), legIdOf(callId, tag)));

  describe('Replaces', () => {
    it('takes over the named leg and role, ends the old dialog and keeps one endpoint in the roster', async () => {
      const conf = await conference('r/1');
      const old = await send(conf, { callId: 'c1', fromTag: 'a1', direction: 'sendonly' });
      expect(old.status).toBe(200);
      const ended: string[] = [];
      focus = new Focus({
        ...options,
        endParticipant: async (conferenceId, legId, _reason, matches) => {
          const entry = await options.stores.participants.get(participantKey(conferenceId, legId));
          if (!entry || !matches(entry.value)) return false;
          ended.push(legId);
          await options.stores.participants.delete(participantKey(conferenceId, legId));
          return true;
        },
      });
      const res = await send(conf, {
        callId: 'c2',
        fromTag: 'a2',
        direction: 'sendrecv',
        headers: [{ name: 'Replaces', value: `c1;to-tag=${toTagOf(old)};from-tag=a1` }],
      });
      expect(res.status).toBe(200);
      // The old participant published only: the new dialog keeps that role although it offered sendrecv.
      expect(res.body.toString()).toMatch(/^a=recvonly/m);
      expect((await stored(conf, 'c2', 'a2'))?.value.role).toBe('publisher');
      expect(ended).toEqual([legIdOf('c1', 'a1')]);
      expect(await stored(conf, 'c1', 'a1')).toBeNull();
      const index = await options.stores.indexes.get(`roster.${idOf(conf)}`);
      expect(Object.keys(index?.value.members ?? {})).toEqual([legIdOf('c2', 'a2')]);
    });

    it('without an ending hook removes the old record and releases its leg, left before joined', async () => {
      const conf = await conference('r/2');
      const old = await send(conf, { callId: 'c1', fromTag: 'a1', direction: 'sendrecv' });
      roster = [];
      const res = await send(conf, {
        callId: 'c2',
        fromTag: 'a2',
        direction: 'recvonly',
        headers: [{ name: 'Replaces', value: `c1;to-tag=${toTagOf(old)};from-tag=a1` }],
      });
      expect(res.body.toString()).toMatch(/^a=sendonly/m);
      expect(relays.released).toEqual([legIdOf('c1', 'a1')]);
      await new Promise((r) => setImmediate(r));
      expect(roster.map((e) => [e.type, e.participant.legId])).toEqual([
        ['left', legIdOf('c1', 'a1')],
        ['joined', legIdOf('c2', 'a2')],
      ]);
    });

    it('answers 481 for a dialog not of this conference, swapped tags or an unknown Call-ID', async () => {
      const conf = await conference('r/3');
      const other = await conference('r/other');
      const old = await send(conf, { callId: 'c1', fromTag: 'a1', direction: 'sendonly' });
      const tag = toTagOf(old);
      for (const [uri, value] of [
        [other, `c1;to-tag=${tag};from-tag=a1`],
        [conf, `c1;to-tag=a1;from-tag=${tag}`],
        [conf, `nope;to-tag=${tag};from-tag=a1`],
      ]) {
        const res = await send(uri, {
          callId: 'c9',
          fromTag: 'z',
          direction: 'sendonly',
          headers: [{ name: 'Replaces', value }],
        });
        expect(res.status, value).toBe(481);
        expect(toTagOf(res)).toBeTruthy();
      }
      expect(await stored(conf, 'c1', 'a1')).not.toBeNull();
      expect(relays.released).toEqual([]);
    });

    it('refuses early-only against the confirmed dialog (486) and both headers at once (400)', async () => {
      const conf = await conference('r/4');
      const old = await send(conf, { callId: 'c1', fromTag: 'a1', direction: 'sendonly' });
      const value = `c1;to-tag=${toTagOf(old)};from-tag=a1`;
      const early = await send(conf, {
        callId: 'c2',
        fromTag: 'b',
        direction: 'sendonly',
        headers: [{ name: 'Replaces', value: `${value};early-only` }],
      });
      expect(early.status).toBe(486);
      const both = await send(conf, {
        callId: 'c3',
        fromTag: 'b',
        direction: 'sendonly',
        headers: [
          { name: 'Replaces', value },
          { name: 'Join', value },
        ],
      });
      expect(both.status).toBe(400);
      expect(relays.allocated).toHaveLength(1);
    });

    it('refuses another authenticated identity with 403 and lets the owner replace its own dialog', async () => {
      const conf = await conference('r/5');
      const old = await send(conf, { callId: 'c1', fromTag: 'a1', direction: 'sendonly' }, 'alice');
      const headers = [{ name: 'Replaces', value: `c1;to-tag=${toTagOf(old)};from-tag=a1` }];
      const bob = await send(
        conf,
        { user: 'bob', callId: 'c2', fromTag: 'b', direction: 'sendonly', headers },
        'bob',
      );
      expect(bob.status).toBe(403);
      const alice = await send(
        conf,
        { callId: 'c3', fromTag: 'a3', direction: 'sendonly', headers },
        'alice',
      );
      expect(alice.status).toBe(200);
    });

    it('ignores Replaces in a re-INVITE (it only names a dialog to create one)', async () => {
      const conf = await conference('r/6');
      const a = await send(conf, { callId: 'c1', fromTag: 'a1', direction: 'sendonly' });
      const re = await send(conf, {
        callId: 'c1',
        fromTag: 'a1',
        toTag: toTagOf(a),
        cseq: 2,
        direction: 'recvonly',
        headers: [{ name: 'Replaces', value: 'nope;to-tag=x;from-tag=y' }],
      });
      expect(re.status).toBe(200);
      expect((await stored(conf, 'c1', 'a1'))?.value.role).toBe('subscriber');
    });
  });

  describe('Join', () => {
    it('adds the caller to the conference of the named dialog, and 481 for a dialog not here', async () => {
      const conf = await conference('j/1');
      const a = await send(conf, { callId: 'c1', fromTag: 'a1', direction: 'sendonly' });
      const value = `c1;to-tag=${toTagOf(a)};from-tag=a1`;
      const joined = await send(conf, {
        user: 'bob',
        callId: 'c2',
        fromTag: 'b',
        direction: 'recvonly',
        headers: [{ name: 'Join', value }],
      });
      expect(joined.status).toBe(200);
      expect(await stored(conf, 'c1', 'a1')).not.toBeNull();
      expect((await stored(conf, 'c2', 'b'))?.value.role).toBe('subscriber');
      const other = await conference('j/other');
      const missing = await send(other, {
        callId: 'c3',
        fromTag: 'c',
        direction: 'recvonly',
        headers: [{ name: 'Join', value }],
      });
      expect(missing.status).toBe(481);
    });
  });

  describe('FACTORY_MODE=join', () => {
    it('answers an INVITE with an offer at the factory 200 from the conference; without one it redirects', async () => {
      focus = new Focus({ ...options, factoryMode: 'join' });
      const first = await send('sip:factory@example.net', {
        callId: 'c1',
        fromTag: 'a',
        subject: 'fj/1',
        direction: 'sendonly',
      });
      expect(first.status).toBe(200);
      const contact = getHeader(first, 'Contact')!;
      expect(contact).toMatch(/^<sip:conf-[a-z2-7]+@example\.net>;isfocus$/);
      const conf = parseNameAddr(contact).uri;
      expect((await stored(conf, 'c1', 'a'))?.value.role).toBe('publisher');
      const second = await send('sip:factory@example.net', {
        user: 'bob',
        callId: 'c2',
        fromTag: 'b',
        subject: 'fj/1',
        direction: 'recvonly',
      });
      expect(second.status).toBe(200);
      expect(parseNameAddr(getHeader(second, 'Contact')!).uri).toBe(conf);
      const plain = await send('sip:factory@example.net', { callId: 'c3', fromTag: 'c', subject: 'fj/1' });
      expect(plain.status).toBe(302);
      // In-dialog requests go to the conference URI (our Contact): BYE there ends the factory-made dialog.
      const bye = await send(conf, {
        method: 'BYE',
        callId: 'c1',
        fromTag: 'a',
        toTag: toTagOf(first),
        cseq: 2,
      });
      expect(bye.status).toBe(200);
    });
  });

  describe('UPDATE and INFO', () => {
    it('UPDATE with an offer changes the role like a re-INVITE', async () => {
      const conf = await conference('u/1');
      const a = await send(conf, { callId: 'c1', fromTag: 'a1', direction: 'sendonly' });
      const up = await send(conf, {
        method: 'UPDATE',
        callId: 'c1',
        fromTag: 'a1',
        toTag: toTagOf(a),
        cseq: 2,
        direction: 'recvonly',
      });
      expect(up.status).toBe(200);
      expect(up.body.toString()).toMatch(/^a=sendonly/m);
      expect((await stored(conf, 'c1', 'a1'))?.value.role).toBe('subscriber');
      expect(relays.updated.at(-1)).toMatchObject({ publishes: false, subscribes: true });
    });

    it('INFO is not served: 405 with an Allow that does not list it', async () => {
      const conf = await conference('u/2');
      const res = await send(conf, { method: 'INFO', callId: 'c1', fromTag: 'a1' });
      expect(res.status).toBe(405);
      expect(getHeader(res, 'Allow')).not.toMatch(/INFO/);
    });
  });

  describe('terminateConference', () => {
    it('ends every participant, frees the topic, and announces the directory deleted', async () => {
      const conf = await conference('t/1');
      await send(conf, { callId: 'c1', fromTag: 'a1', direction: 'sendonly' });
      await send(conf, { user: 'bob', callId: 'c2', fromTag: 'b1', direction: 'recvonly' });
      expect(await focus.terminateConference(idOf(conf), 'ended by test')).toBe(true);
      expect(await focus.terminateConference(idOf(conf), 'again')).toBe(false);
      expect(relays.released.sort()).toEqual([legIdOf('c1', 'a1'), legIdOf('c2', 'b1')].sort());
      expect(await stored(conf, 'c1', 'a1')).toBeNull();
      expect(await options.stores.conferences.get(idOf(conf))).toBeNull();
      await new Promise((r) => setImmediate(r));
      expect(directory.at(-1)).toMatchObject({ type: 'deleted', conferenceId: idOf(conf), topic: 't/1' });
      const late = await send(conf, { callId: 'c3', fromTag: 'x', direction: 'sendonly' });
      expect(late.status).toBe(404);
      const again = await conference('t/1');
      expect(again).not.toBe(conf);
    });
  });
});
