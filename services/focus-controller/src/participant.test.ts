import {
  answerDirectionFor,
  type Direction,
  type Role,
  roleFromOfferDirection,
  type TextOfferSummary,
} from '@sip-pubsub/media';
import { createLogger, InProcessBus, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { refuseListing } from '@sip-pubsub/platform/testing';
import {
  conferenceRecordSchema,
  counterSchema,
  indexRecordSchema,
  type LegSpec,
  type ParticipantRecord,
  participantKey,
  participantRecordSchema,
  rosterParticipantSchema,
  topicRecordSchema,
} from '@sip-pubsub/proto';
import {
  checkInDialogRequest,
  createRequest,
  getHeader,
  parseNameAddr,
  type SipRequest,
} from '@sip-pubsub/sip';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Focus } from './focus.js';
import {
  DEFAULT_TEXT_MEDIA,
  dialogNamedBy,
  dialogOf,
  FORWARDING_MODE,
  legIdOf,
  legSpecOf,
  MODE,
  narrowRole,
  roleOfDirection,
  roleOfLeg,
  rosterView,
  textMediaOf,
} from './participant.js';
import type { PlacedLeg, RelayDirectory } from './relays.js';

const DIRECTIONS: Direction[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];
const ROLES: Role[] = ['publisher', 'subscriber', 'both', 'inactive'];
/** The same stream seen from the other end (RFC 3264 §6.1). */
const MIRROR: Record<Direction, Direction> = {
  sendrecv: 'sendrecv',
  sendonly: 'recvonly',
  recvonly: 'sendonly',
  inactive: 'inactive',
};

const role = fc.constantFrom(...ROLES);
const direction = fc.constantFrom(...DIRECTIONS);
const textMedia = fc.record(
  {
    t140Pt: fc.integer({ min: 96, max: 127 }),
    redPt: fc.integer({ min: 96, max: 127 }),
    redundancy: fc.integer({ min: 0, max: 4 }),
    mode: fc.constantFrom('translate' as const, 'mix' as const, 'aggregate' as const),
    aggregateWindowMs: fc.integer({ min: 20, max: 5000 }),
    rtcpMux: fc.boolean(),
  },
  { requiredKeys: ['t140Pt', 'redundancy', 'mode', 'rtcpMux'] },
);
const record: fc.Arbitrary<ParticipantRecord> = fc
  .record({
    conferenceId: fc.stringMatching(/^[a-z2-7]{16}$/),
    callId: fc.string({ minLength: 1, maxLength: 20 }),
    remoteTag: fc.string({ minLength: 1, maxLength: 10 }),
    localTag: fc.string({ minLength: 1, maxLength: 10 }),
    role,
    remoteSeq: fc.integer({ min: 1, max: 2 ** 30 }),
    port: fc.integer({ min: 1, max: 65535 }),
    textMedia: fc.option(textMedia, { nil: undefined }),
    dialledOut: fc.boolean(),
  })
  .map((r) => {
    const p: ParticipantRecord = {
      conferenceId: r.conferenceId,
      legId: legIdOf(r.callId, r.dialledOut ? r.localTag : r.remoteTag),
      callId: r.callId,
      remoteTag: r.remoteTag,
      localTag: r.localTag,
      aor: 'sip:meter@example.org',
      displayName: 'Meter',
      contact: 'sip:meter@198.51.100.7:5070',
      remoteSeq: r.remoteSeq,
      role: r.role,
      status: MODE[r.role].focus,
      relayId: 'relay-1',
      relayAddress: '127.0.0.1:7001',
      media: { host: '192.0.2.10', port: 20_000 },
      remoteMedia: { host: '198.51.100.7', port: r.port },
      flow: { transport: 'udp', remoteHost: '198.51.100.7', remotePort: 5070 },
      joinedAt: 1_700_000_000_000,
      answerVersion: 1,
    };
    if (r.textMedia) p.textMedia = r.textMedia;
    if (r.dialledOut) p.dialledOut = true;
    return p;
  });

describe('the MODE table', () => {
  it('names one role for every SDP direction, and that role names the direction back', () => {
    for (const d of DIRECTIONS) expect(MODE[roleOfDirection(d)].peer).toBe(d);
    for (const r of ROLES) expect(roleOfDirection(MODE[r].peer)).toBe(r);
    expect(new Set(ROLES.map((r) => MODE[r].peer)).size).toBe(DIRECTIONS.length);
  });

  it('agrees with the SDP offer/answer code: the role of an offer, and the direction of our answer to it', () => {
    fc.assert(
      fc.property(direction, (d) => {
        expect(roleOfDirection(d)).toBe(roleFromOfferDirection(d));
        expect(MODE[roleOfDirection(d)].focus).toBe(answerDirectionFor(d));
      }),
    );
  });

  it('our direction is the participant’s seen from our end, and the relay leg carries what each side sends', () => {
    for (const r of ROLES) {
      const mode = MODE[r];
      expect(mode.focus).toBe(MIRROR[mode.peer]);
      // The participant sends (its peer direction has "send") exactly when the leg takes publications.
      expect(mode.publishes).toBe(mode.peer === 'sendonly' || mode.peer === 'sendrecv');
      expect(mode.subscribes).toBe(mode.peer === 'recvonly' || mode.peer === 'sendrecv');
      expect(roleOfLeg(mode)).toBe(r);
    }
  });

  it('narrows a role to what both the offer and the held role allow (RFC 3264 §6.1)', () => {
    fc.assert(
      fc.property(role, role, (a, b) => {
        const narrowed = narrowRole(a, b);
        expect(narrowed).toBe(narrowRole(b, a));
        expect(MODE[narrowed].publishes).toBe(MODE[a].publishes && MODE[b].publishes);
        expect(MODE[narrowed].subscribes).toBe(MODE[a].subscribes && MODE[b].subscribes);
        expect(narrowRole(a, 'both')).toBe(a);
        expect(narrowRole(a, 'inactive')).toBe('inactive');
      }),
    );
  });
});

describe('a participant record and its relay leg', () => {
  it('gives a leg that serves its role, towards its media, with its negotiated text media', () => {
    fc.assert(
      fc.property(
        record,
        fc.constantFrom('drop' as const, 'forward' as const),
        fc.boolean(),
        (p, policy, resumes) => {
          const spec = legSpecOf(p, policy, { resumes });
          const media = p.textMedia ?? DEFAULT_TEXT_MEDIA;
          expect(roleOfLeg({ publishes: spec.publishes!, subscribes: spec.subscribes! })).toBe(p.role);
          expect(spec).toMatchObject({
            conferenceId: p.conferenceId,
            legId: p.legId,
            remoteHost: p.remoteMedia.host,
            remotePort: p.remoteMedia.port,
            t140Pt: media.t140Pt,
            redPt: media.redPt ?? 0,
            redundancy: media.redundancy,
            mode: FORWARDING_MODE[media.mode],
            aggregateWindowMs: media.aggregateWindowMs ?? 0,
            rtcpMux: media.rtcpMux,
            invalidData: policy === 'forward' ? 'INVALID_DATA_POLICY_FORWARD' : 'INVALID_DATA_POLICY_DROP',
          });
          expect('resumes' in spec).toBe(resumes);
        },
      ),
    );
  });

  it('gives every forwarding mode its own relay mode', () => {
    const modes = Object.values(FORWARDING_MODE);
    expect(new Set(modes).size).toBe(modes.length);
  });

  it('keeps of an offer what its leg needs: the leg from the record is the leg the offer asks for', () => {
    const summary: fc.Arbitrary<TextOfferSummary> = fc
      .tuple(textMedia, direction, fc.integer({ min: 1, max: 65535 }))
      .map(([m, d, port]) => {
        const s: TextOfferSummary = {
          address: '198.51.100.7',
          port,
          t140Pt: m.t140Pt,
          redundancy: m.redundancy,
          direction: d,
          role: roleOfDirection(d),
          mode: m.mode,
          rtcpMux: m.rtcpMux,
        };
        if (m.redPt !== undefined) s.redPt = m.redPt;
        if (m.aggregateWindowMs !== undefined) s.aggregateWindowMs = m.aggregateWindowMs;
        return s;
      });
    fc.assert(
      fc.property(summary, (s) => {
        const spec = legSpecOf(
          {
            conferenceId: 'c',
            legId: 'l',
            role: s.role,
            remoteMedia: { host: s.address, port: s.port },
            textMedia: textMediaOf(s),
          },
          'drop',
        );
        expect(spec).toEqual({
          conferenceId: 'c',
          legId: 'l',
          publishes: s.role === 'publisher' || s.role === 'both',
          subscribes: s.role === 'subscriber' || s.role === 'both',
          remoteHost: s.address,
          remotePort: s.port,
          t140Pt: s.t140Pt,
          redPt: s.redPt ?? 0,
          redundancy: s.redundancy,
          mode: FORWARDING_MODE[s.mode],
          aggregateWindowMs: s.aggregateWindowMs ?? 0,
          rtcpMux: s.rtcpMux,
          invalidData: 'INVALID_DATA_POLICY_DROP',
        });
      }),
    );
  });
});

describe('a participant record and its dialog and roster entry', () => {
  const bye = (p: ParticipantRecord, toTag: string, cseq: number): SipRequest =>
    createRequest({
      method: 'BYE',
      uri: `sip:conf-${p.conferenceId}@example.net`,
      from: { uri: p.aor, params: { tag: p.remoteTag } },
      to: { uri: `sip:conf-${p.conferenceId}@example.net`, params: { tag: toTag } },
      callId: p.callId,
      cseq,
    });

  it('is the dialog a request with our tag names, checked as §12.2.2 says: 481 for another tag, 500 for an old CSeq', () => {
    fc.assert(
      fc.property(record, fc.nat({ max: 3 }), (p, step) => {
        const dialog = dialogOf(p, 'example.net');
        expect(dialog).toMatchObject({ callId: p.callId, localTag: p.localTag, remoteTag: p.remoteTag });
        expect(dialog.remoteSeq).toBe(p.remoteSeq);
        expect(dialog.localUri).toBe(`sip:conf-${p.conferenceId}@example.net`);
        expect(dialogNamedBy(p, `${p.localTag}x`, 'example.net')).toBeUndefined();
        expect(dialogNamedBy(p, undefined, 'example.net')).toBeUndefined();
        expect(
          checkInDialogRequest(dialogNamedBy(p, `${p.localTag}x`, 'example.net'), bye(p, 'x', 1)),
        ).toEqual({
          status: 481,
          reason: 'Call/Transaction Does Not Exist',
        });
        const named = () => dialogNamedBy(p, p.localTag, 'example.net');
        expect(checkInDialogRequest(named(), bye(p, p.localTag, Math.max(1, p.remoteSeq - step)))).toEqual({
          status: 500,
          reason: 'CSeq Out of Order',
        });
        expect(checkInDialogRequest(named(), bye(p, p.localTag, p.remoteSeq + 1 + step))).toBeUndefined();
      }),
    );
  });

  it('shows in the roster as it is stored: its leg, user, role and our direction', () => {
    fc.assert(
      fc.property(record, (p) => {
        const entry = rosterParticipantSchema.parse(rosterView(p));
        expect(entry).toEqual({
          legId: p.legId,
          aor: p.aor,
          displayName: p.displayName,
          role: p.role,
          status: MODE[p.role].focus,
          joinedAt: p.joinedAt,
        });
      }),
    );
  });
});

class RecordingRelays implements RelayDirectory {
  allocated: LegSpec[] = [];
  updated: LegSpec[] = [];
  async allocate(spec: LegSpec): Promise<PlacedLeg> {
    this.allocated.push(spec);
    return { relayId: 'relay-1', relayAddress: '127.0.0.1:1', host: '192.0.2.10', port: 20_000 };
  }
  async update(_address: string, spec: LegSpec): Promise<void> {
    this.updated.push(spec);
  }
  async release(): Promise<boolean> {
    return true;
  }
}

describe('the participants the focus stores', () => {
  let bus: InProcessBus;
  let relays: RecordingRelays;
  let focus: Focus;
  let participants: JsonBucket<ParticipantRecord>;

  beforeEach(async () => {
    bus = new InProcessBus();
    const kv = new InProcessKvStore();
    relays = new RecordingRelays();
    participants = new JsonBucket(refuseListing(await kv.bucket('participants')), participantRecordSchema);
    focus = new Focus({
      domain: 'example.net',
      onExistingTopic: 'redirect',
      invalidData: 'forward',
      maxConferences: 10,
      maxLegsPerConference: 10,
      stores: {
        conferences: new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema),
        topics: new JsonBucket(await kv.bucket('topics'), topicRecordSchema),
        participants,
        counters: new JsonBucket(await kv.bucket('counters'), counterSchema),
        indexes: new JsonBucket(await kv.bucket('indexes'), indexRecordSchema),
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

  const offer = (d: Direction) =>
    [
      'v=0',
      'o=- 1 1 IN IP4 198.51.100.7',
      's=-',
      'c=IN IP4 198.51.100.7',
      't=0 0',
      'm=text 40000 RTP/AVP 100 98',
      'a=rtpmap:98 t140/1000',
      'a=rtpmap:100 red/1000',
      'a=fmtp:100 98/98/98',
      `a=${d}`,
      '',
    ].join('\r\n');
  const invite = (uri: string, opts: { sdp?: string; subject?: string; toTag?: string; cseq?: number }) =>
    createRequest({
      method: 'INVITE',
      uri,
      from: { uri: 'sip:meter@example.org', params: { tag: 'meter-tag' } },
      to: { uri, params: opts.toTag ? { tag: opts.toTag } : {} },
      callId: 'call-1',
      cseq: opts.cseq ?? 1,
      contact: { uri: 'sip:meter@198.51.100.7:5070', params: {} },
      headers: [
        { name: 'Via', value: 'SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bKp1' },
        ...(opts.subject ? [{ name: 'Subject', value: opts.subject }] : []),
      ],
      ...(opts.sdp ? { body: opts.sdp, contentType: 'application/sdp' } : {}),
    });
  const flow = { transport: 'udp', remoteHost: '198.51.100.7', remotePort: 5070 };

  it.each(DIRECTIONS)(
    'a dial-in offering %s: its record, its relay leg and its roster entry say the same',
    async (d) => {
      const created = await focus.handle(invite('sip:factory@example.net', { subject: `t/${d}` }), flow);
      const conf = parseNameAddr(getHeader(created!, 'Contact')!).uri;
      const ok = await focus.handle(invite(conf, { sdp: offer(d) }), flow);
      expect(ok?.status).toBe(200);
      const conferenceId = conf.slice('sip:conf-'.length, conf.indexOf('@'));
      const stored = (await participants.get(participantKey(conferenceId, legIdOf('call-1', 'meter-tag'))))!
        .value;
      const role = roleOfDirection(d);
      expect(stored.role).toBe(role);
      expect(stored.status).toBe(MODE[role].focus);
      expect(ok!.body.toString()).toContain(`a=${MODE[role].focus}`);
      expect(relays.allocated).toEqual([legSpecOf(stored, 'forward')]);
      expect(rosterView(stored)).toMatchObject({ role, status: MODE[role].focus });

      // A re-INVITE that turns it the other way round: the leg changes to what the new record says.
      const toTag = parseNameAddr(getHeader(ok!, 'To')!).params.tag!;
      const turned = MIRROR[d];
      expect((await focus.handle(invite(conf, { sdp: offer(turned), toTag, cseq: 2 }), flow))?.status).toBe(
        200,
      );
      const after = (await participants.get(participantKey(conferenceId, stored.legId)))!.value;
      expect(after.role).toBe(roleOfDirection(turned));
      expect(relays.updated).toEqual([legSpecOf(after, 'forward')]);
    },
  );

  it('refuses what the stored dialog does not allow as the notifier does: 481 for another tag, 500 for an old CSeq', async () => {
    const created = await focus.handle(invite('sip:factory@example.net', { subject: 't/seq' }), flow);
    const conf = parseNameAddr(getHeader(created!, 'Contact')!).uri;
    const ok = await focus.handle(invite(conf, { sdp: offer('sendonly'), cseq: 5 }), flow);
    const toTag = parseNameAddr(getHeader(ok!, 'To')!).params.tag!;
    for (const [req, status] of [
      [invite(conf, { sdp: offer('recvonly'), toTag: 'not-ours', cseq: 6 }), 481],
      [invite(conf, { sdp: offer('recvonly'), toTag, cseq: 5 }), 500],
      [invite(conf, { sdp: offer('recvonly'), toTag, cseq: 4 }), 500],
    ] as const) {
      const res = await focus.handle(req, flow);
      expect(res?.status).toBe(status);
      expect(getHeader(res!, 'Retry-After')).toBeUndefined();
    }
    expect(relays.updated).toEqual([]);
  });
});
