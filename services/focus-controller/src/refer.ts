// REFER to a conference URI (RFC 4579 §5.6 dial-out, §5.11 removal, and ending the conference) with
// the implicit `refer` subscription of RFC 3515 / RFC 4488. The engine (packages/sip refer-subscription)
// decides what goes on the wire; this module does the I/O: the 202, the INVITE or BYE through the edge,
// the relay leg, the participant record and the sipfrag NOTIFYs. Each accepted referral is kept in KV
// until its final NOTIFY, so a replica that takes the conference over reports it (recoverOrphans).
import { randomBytes } from 'node:crypto';
import {
  type AccessList,
  accessRefusalReason,
  conferenceUri,
  PROFILE_ALLOW,
  PROFILE_SUPPORTED,
} from '@sip-pubsub/events';
import { createTextOffer, parseTextAnswer, type Role, SdpNegotiationError } from '@sip-pubsub/media';
import type { Bus, JsonBucket, Logger } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  encodeEvent,
  type IndexRecord,
  type LegSpec,
  type ParticipantRecord,
  participantKey,
  REFERRALS_INDEX_KEY,
  type ReferralRecord,
  rosterEventSchema,
  rosterIndexKey,
  rosterShownOf,
  subjects,
} from '@sip-pubsub/proto';
import {
  acceptRefer,
  createInDialogRequest,
  createRequest,
  createResponse,
  type DialogState,
  dialogFromUasResponse,
  generateCallId,
  generateTag,
  getHeader,
  getHeaders,
  parseCSeq,
  parseNameAddr,
  parseReferTo,
  parseUri,
  type ReferNotify,
  type ReferSnapshot,
  referNotifyFailed,
  referralOf,
  referSubOf,
  reportReferProgress,
  SipParseError,
  type SipRequest,
  type SipResponse,
  uriEquals,
} from '@sip-pubsub/sip';
import { identityUri } from './access.js';
import { dialogOf, type ParticipantRequestSender, type SentRequestOutcome } from './failover.js';
import { legIdOf, rosterView, sdpSessionId } from './focus.js';
import { IndexWriter } from './indexes.js';

/** What the REFER handler needs of a request's flow (the focus's RequestFlow). */
export interface ReferFlow {
  transport: string;
  remoteHost: string;
  remotePort: number;
  connectionId?: string;
  edgeId?: string;
}

export interface ReferralsOptions {
  domain: string;
  /** This replica's id, written into each referral it works on. */
  selfId: string;
  stores: {
    conferences: JsonBucket<ConferenceRecord>;
    participants: JsonBucket<ParticipantRecord>;
    indexes: JsonBucket<IndexRecord>;
    referrals: JsonBucket<ReferralRecord>;
  };
  relays: {
    allocate(spec: LegSpec): Promise<{ relayId: string; relayAddress: string; host: string; port: number }>;
    update(relayAddress: string, spec: LegSpec): Promise<void>;
    release(relayAddress: string, conferenceId: string, legId: string): Promise<boolean>;
  };
  /** Sends through an edge (SendRequest); `timeoutMs` bounds an INVITE (the edge CANCELs it then). */
  send: (request: SipRequest, flow: ReferFlow, timeoutMs?: number) => Promise<SentRequestOutcome>;
  bus: Bus;
  logger: Logger;
  /** The access list in force (ACL_FILE); when set, removal and ending also need its `remove` action. */
  access?: () => AccessList;
  /** ADMIN_IDENTITIES: identities or SIP URIs allowed to remove participants and end conferences. */
  admins: readonly string[];
  maxLegsPerConference: number;
  dialOutTimeoutMs: number;
  /** Ends a whole conference (BYE to all, watchers told, topic freed); absent: termination is refused. */
  terminateConference?: (conferenceId: string, reason: string) => Promise<void>;
  /** Session-timer and other per-dialog hooks of the focus, armed for a dialled-out participant. */
  arm?: (p: ParticipantRecord) => void;
  /** The focus replicas alive now (ids), to tell an orphaned referral from one still being worked on. */
  liveReplicas: () => string[];
  owns: (conferenceId: string) => boolean;
  now?: () => number;
  /** Runs work after the 202 has been handed back (default setImmediate). */
  defer?: (work: () => void) => void;
}

/** The direction of the dialled party's answer (its own view) gives its role (PROFILE "Roles from SDP"). */
const ROLE_OF_ANSWER: Record<string, Role> = {
  sendonly: 'publisher',
  recvonly: 'subscriber',
  sendrecv: 'both',
  inactive: 'inactive',
};
/** Our direction towards each role: the answer direction of a dial-in (focus.ts ANSWER_DIRECTION). */
const OUR_DIRECTION: Record<Role, ParticipantRecord['status']> = {
  publisher: 'recvonly',
  subscriber: 'sendonly',
  both: 'sendrecv',
  inactive: 'inactive',
};

/** How long the first NOTIFY waits after the 202 was handed to the edge. */
const FIRST_NOTIFY_DELAY_MS = 100;

export const referralKey = (conferenceId: string, id: string): string => `${conferenceId}.${id}`;

export class Referrals {
  private readonly now: () => number;
  private readonly index: IndexWriter;
  private readonly defer: (work: () => void) => void;
  /** Work under way here, so tests (and stop) can wait for it. */
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly opts: ReferralsOptions) {
    this.now = opts.now ?? Date.now;
    this.index = new IndexWriter(opts.stores.indexes, this.now, opts.logger);
    this.defer = opts.defer ?? ((work) => setImmediate(work));
  }

  /** Resolves when all referral work started so far has finished. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Answers a REFER to a conference URI; the work it asks for goes on after the 202. */
  async handle(
    req: SipRequest,
    conferenceId: string,
    flow: ReferFlow,
    identity: string,
  ): Promise<SipResponse> {
    const toTag = parseNameAddr(getHeader(req, 'To') ?? '').params.tag ?? undefined;
    const localTag = toTag ?? generateTag();
    const refuse = (status: number, reason: string) =>
      createResponse(req, status, reason, { toTag: localTag });
    const conference = await this.opts.stores.conferences.get(conferenceId);
    if (!conference) return refuse(404, 'Conference Not Found');
    const confUri = conferenceUri(conferenceId, this.opts.domain);

    let referral: ReturnType<typeof referralOf>;
    let referSub: boolean | undefined;
    try {
      referral = referralOf(parseReferTo(getHeader(req, 'Refer-To') ?? ''), confUri);
      referSub = referSubOf(req);
    } catch (err) {
      if (err instanceof SipParseError) return refuse(err.status, err.message);
      throw err;
    }
    if (referral.kind === 'refused') return refuse(referral.status, referral.reason);

    // In a dialog: only a participant's INVITE dialog (its NOTIFYs then share that dialog's CSeq space).
    let participant: { key: string; record: ParticipantRecord } | undefined;
    if (toTag) {
      const fromTag = parseNameAddr(getHeader(req, 'From') ?? '').params.tag ?? '';
      const key = participantKey(conferenceId, legIdOf(getHeader(req, 'Call-ID') ?? '', fromTag));
      const entry = await this.opts.stores.participants.get(key);
      if (!entry || entry.value.localTag !== toTag)
        return createResponse(req, 481, 'Call/Transaction Does Not Exist');
      if (parseCSeq(getHeader(req, 'CSeq') ?? '').seq <= entry.value.remoteSeq)
        return createResponse(req, 500, 'CSeq Out of Order', {
          headers: [{ name: 'Retry-After', value: '1' }],
        });
      participant = { key, record: entry.value };
    }

    const requester = identity
      ? identityUri(identity, this.opts.domain)
      : parseNameAddr(getHeader(req, 'From') ?? '').uri;
    const chair = this.isChair(requester, identity, conference.value);
    // Dial-out: the creator, an admin, or a participant from inside its own dialog (RFC 4579 §5.6).
    if (referral.kind === 'dial-out' && !chair && !participant)
      return refuse(403, 'Only The Creator, An Admin Or A Participant May Dial Out');
    if (referral.kind !== 'dial-out' && !chair)
      return refuse(403, 'Only The Creator Or An Admin May Remove Or End');
    if (
      referral.kind !== 'dial-out' &&
      this.opts.access &&
      !this.opts.access().allows(identity, 'remove', conference.value.topic)
    )
      return refuse(403, accessRefusalReason('remove'));
    if (referral.kind === 'terminate' && !this.opts.terminateConference)
      return refuse(403, 'Ending Conferences Is Not Enabled');

    const cseq = parseCSeq(getHeader(req, 'CSeq') ?? '').seq;
    const accepted = acceptRefer({ cseq, referSub, now: this.now() });
    const id = randomBytes(8).toString('hex');
    const record: ReferralRecord = {
      conferenceId,
      id,
      kind: referral.kind === 'dial-out' ? 'dial-out' : 'remove',
      target: referral.kind === 'terminate' ? confUri : referral.target,
      owner: this.opts.selfId,
      startedAt: this.now(),
      refer: accepted.snapshot,
    };
    const response = createResponse(req, 202, 'Accepted', {
      toTag: localTag,
      headers: [{ name: 'Contact', value: `<${confUri}>;isfocus` }, ...accepted.headers],
    });
    if (accepted.snapshot.subscribed) {
      if (participant) record.notify = { kind: 'participant', key: participant.key };
      else {
        let dialog: DialogState;
        try {
          dialog = dialogFromUasResponse(req, response);
        } catch (err) {
          return refuse(400, (err as Error).message);
        }
        record.notify = { kind: 'dialog', dialog, flow: { ...flow } };
      }
    }
    if (participant) {
      // The REFER is a request in the participant's dialog: its CSeq is now the one to beat.
      await this.opts.stores.participants.mutate(participant.key, (current) =>
        current && current.localTag === toTag
          ? { ...current, remoteSeq: Math.max(current.remoteSeq, cseq) }
          : undefined,
      );
    }

    if (referral.kind === 'dial-out') {
      const callId = generateCallId();
      const inviteTag = generateTag();
      record.invite = { callId, localTag: inviteTag, legId: legIdOf(callId, inviteTag) };
    }
    // Stored before the 202 leaves: from here on, a replica that dies leaves a record another finishes.
    await this.opts.stores.referrals.put(referralKey(conferenceId, id), record);
    await this.index.add(REFERRALS_INDEX_KEY, referralKey(conferenceId, id));
    this.opts.logger.info(
      {
        conferenceId,
        referral: id,
        kind: referral.kind,
        target: record.target,
        requester,
        subscribed: accepted.snapshot.subscribed,
      },
      'REFER accepted',
    );

    const notifier = new ReferNotifier(this, record, this.now);
    this.defer(() => {
      // After the 202 is handed back: the first NOTIFY follows it (RFC 3515 §2.4.5). It leaves through
      // another RPC than the 202, so it waits a moment to arrive after it, as most UAs expect (RFC 6665
      // §4.1.2.4 lets it come first).
      if (accepted.notify) notifier.queue(accepted.notify, FIRST_NOTIFY_DELAY_MS);
      const work = (async () => {
        if (referral.kind === 'dial-out') await this.dialOut(record, notifier, conference.value);
        else if (referral.kind === 'remove') await this.remove(record, notifier, requester);
        else await this.terminate(record, notifier, requester);
      })()
        .catch(async (err: Error) => {
          this.opts.logger.error({ conferenceId, referral: id, err: err.message }, 'referral failed');
          await notifier.final(500, 'Server Internal Error').catch(() => undefined);
        })
        .finally(() => notifier.done().then(() => this.forget(record)));
      this.track(work);
    });
    return response;
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(tracked);
    void tracked.then(() => this.running.delete(tracked));
  }

  private isChair(requester: string, identity: string, conference: ConferenceRecord): boolean {
    if (sameUri(requester, conference.creator)) return true;
    return this.opts.admins.some((admin) =>
      /^sips?:/i.test(admin) ? sameUri(admin, requester) : identity !== '' && admin === identity,
    );
  }

  private async forget(record: ReferralRecord): Promise<void> {
    const key = referralKey(record.conferenceId, record.id);
    await this.opts.stores.referrals.delete(key).catch(() => undefined);
    await this.index.removeQuietly(REFERRALS_INDEX_KEY, key);
  }

  /** RFC 4579 §5.6: INVITE the target from the conference with a sendrecv m=text offer on a fresh leg. */
  private async dialOut(
    record: ReferralRecord,
    notifier: ReferNotifier,
    conference: ConferenceRecord,
  ): Promise<void> {
    const { conferenceId } = record;
    const invite = record.invite!;
    const legId = invite.legId;
    const confUri = conferenceUri(conferenceId, this.opts.domain);
    let destination: ReferFlow;
    try {
      destination = flowOfUri(record.target);
    } catch (err) {
      return notifier.final(416, (err as Error).message);
    }
    if (
      !(await this.index.add(
        rosterIndexKey(conferenceId),
        legId,
        'inactive',
        conference.maxUsers ?? this.opts.maxLegsPerConference,
      ))
    )
      return notifier.final(486, 'Conference Full');
    const spec: LegSpec = {
      conferenceId,
      legId,
      // Nothing flows before the answer says which way (the role follows its direction).
      publishes: false,
      subscribes: false,
      remoteHost: destination.remoteHost,
      remotePort: 9,
      t140Pt: 98,
      redPt: 100,
      redundancy: 2,
      mode: 'FORWARDING_MODE_TRANSLATE',
      aggregateWindowMs: 0,
      rtcpMux: false,
      invalidData:
        conference.policy.invalidData === 'forward'
          ? 'INVALID_DATA_POLICY_FORWARD'
          : 'INVALID_DATA_POLICY_DROP',
    };
    let leg: Awaited<ReturnType<ReferralsOptions['relays']['allocate']>>;
    try {
      leg = await this.opts.relays.allocate(spec);
    } catch (err) {
      await this.index.removeQuietly(rosterIndexKey(conferenceId), legId);
      this.opts.logger.error({ conferenceId, legId, err: (err as Error).message }, 'dial-out: no relay leg');
      return notifier.final(503, 'No Media Relay Available');
    }
    const released = async () => {
      await this.opts.relays.release(leg.relayAddress, conferenceId, legId).catch(() => false);
      await this.index.removeQuietly(rosterIndexKey(conferenceId), legId);
    };
    try {
      await this.opts.stores.referrals.mutate(referralKey(conferenceId, record.id), (current) =>
        current ? { ...current, leg } : undefined,
      );
    } catch (err) {
      await released();
      throw err;
    }

    const request = createRequest({
      method: 'INVITE',
      uri: record.target,
      from: { uri: confUri, params: { tag: invite.localTag } },
      to: { uri: record.target, params: {} },
      callId: invite.callId,
      cseq: 1,
      contact: { uri: confUri, params: { isfocus: null } },
      headers: [
        { name: 'Allow', value: PROFILE_ALLOW },
        { name: 'Supported', value: PROFILE_SUPPORTED },
        { name: 'Subject', value: conference.topic },
      ],
      body: createTextOffer({
        address: leg.host,
        port: leg.port,
        direction: 'sendrecv',
        sessionId: sdpSessionId(legId),
        sessionVersion: 1,
      }),
      contentType: 'application/sdp',
    });
    let outcome: SentRequestOutcome;
    try {
      outcome = await this.opts.send(request, destination, this.opts.dialOutTimeoutMs);
    } catch (err) {
      outcome = { status: 408, reason: `no answer: ${(err as Error).message}` };
    }
    if (outcome.status < 200 || outcome.status >= 300 || !outcome.response) {
      await released();
      this.opts.logger.info(
        { conferenceId, legId, target: record.target, status: outcome.status },
        'dial-out failed',
      );
      return outcome.status >= 300
        ? notifier.final(outcome.status, outcome.reason)
        : notifier.final(500, 'Server Internal Error');
    }
    const ok = outcome.response;
    let answer: ReturnType<typeof parseTextAnswer>;
    try {
      answer = parseTextAnswer(ok.body.toString('utf8'));
    } catch (err) {
      const why = err instanceof SdpNegotiationError ? err.warning : (err as Error).message;
      await released();
      await this.byeUnusable(ok, request, destination, why);
      return notifier.final(488, 'Not Acceptable Here');
    }
    const role = ROLE_OF_ANSWER[answer.direction] ?? 'both';
    const remoteTag = parseNameAddr(getHeader(ok, 'To') ?? '').params.tag ?? '';
    const now = this.now();
    const p: ParticipantRecord = {
      conferenceId,
      legId,
      callId: invite.callId,
      remoteTag,
      localTag: invite.localTag,
      // PROFILE "REFER": a dialled-out party is known by the URI it was dialled at.
      aor: record.target,
      contact: parseNameAddr(getHeaders(ok, 'Contact')[0] ?? `<${record.target}>`).uri,
      remoteSeq: 0,
      role,
      status: OUR_DIRECTION[role],
      relayId: leg.relayId,
      relayAddress: leg.relayAddress,
      media: { host: leg.host, port: leg.port },
      remoteMedia: { host: answer.address, port: answer.port },
      flow: destination,
      joinedAt: now,
      answerVersion: 1,
      textMedia: {
        t140Pt: answer.t140Pt,
        redundancy: answer.redPt !== undefined ? 2 : 0,
        mode: 'translate',
        rtcpMux: false,
        ...(answer.redPt !== undefined ? { redPt: answer.redPt } : {}),
      },
      localSeq: 1,
      dialledOut: true,
    };
    const display = parseNameAddr(getHeader(ok, 'To') ?? '').displayName;
    if (display) p.displayName = display;
    // §12.1.2: the UAC's route set is the 2xx's Record-Route, reversed.
    const routeSet = getHeaders(ok, 'Record-Route').reverse();
    if (routeSet.length > 0) p.routeSet = routeSet;
    // The role the answer chose takes its place under the conference's per-role caps, as a dial-in's does.
    const roleLimits = { publishers: conference.maxPublishers, subscribers: conference.maxSubscribers };
    const roleTaken = await this.index
      .add(rosterIndexKey(conferenceId), legId, role, undefined, roleLimits)
      .catch(() => false);
    if (!roleTaken) {
      await released();
      await this.bye(p, 'conference full for that role');
      return notifier.final(486, 'Conference Full For That Role');
    }
    try {
      await this.opts.relays.update(leg.relayAddress, {
        ...spec,
        publishes: role === 'publisher' || role === 'both',
        subscribes: role === 'subscriber' || role === 'both',
        remoteHost: answer.address,
        remotePort: answer.port,
        t140Pt: answer.t140Pt,
        redPt: answer.redPt ?? 0,
        redundancy: answer.redPt !== undefined ? 2 : 0,
      });
      await this.opts.stores.participants.put(participantKey(conferenceId, legId), p);
    } catch (err) {
      await released();
      await this.bye(p, 'the focus could not set up the leg');
      this.opts.logger.error(
        { conferenceId, legId, err: (err as Error).message },
        'dial-out: answered but not stored',
      );
      return notifier.final(500, 'Server Internal Error');
    }
    // What the roster shows of the party, in its index entry (as a dial-in's), before the announcement.
    await this.index
      .show(rosterIndexKey(conferenceId), legId, role, rosterShownOf(p))
      .catch((err: Error) =>
        this.opts.logger.warn({ conferenceId, legId, err: err.message }, 'roster index not updated'),
      );
    this.opts.arm?.(p);
    this.announce('joined', p);
    this.opts.logger.info(
      { conferenceId, legId, target: record.target, role, relay: leg.relayId },
      'dialled-out party joined',
    );
    return notifier.final(ok.status, ok.reason);
  }

  /** A 2xx whose SDP we cannot use: end that dialog at once (RFC 3261 §13.2.2.4 leaves only BYE). */
  private async byeUnusable(
    ok: SipResponse,
    invite: SipRequest,
    flow: ReferFlow,
    why: string,
  ): Promise<void> {
    const remoteTag = parseNameAddr(getHeader(ok, 'To') ?? '').params.tag ?? '';
    const dialog: DialogState = {
      callId: getHeader(invite, 'Call-ID') ?? '',
      localTag: parseNameAddr(getHeader(invite, 'From') ?? '').params.tag ?? '',
      remoteTag,
      localUri: parseNameAddr(getHeader(invite, 'From') ?? '').uri,
      remoteUri: invite.uri,
      remoteTarget: parseNameAddr(getHeaders(ok, 'Contact')[0] ?? `<${invite.uri}>`).uri,
      routeSet: getHeaders(ok, 'Record-Route').reverse(),
      localSeq: 1,
      secure: false,
    };
    const bye = createInDialogRequest(dialog, 'BYE', {
      headers: [{ name: 'Reason', value: `SIP ;cause=488 ;text="${why.replace(/["\\]/g, "'")}"` }],
    });
    await this.opts.send(bye, flow).catch(() => undefined);
  }

  /** RFC 4579 §5.11: BYE every leg of the participant whose user entity is the target. */
  private async remove(record: ReferralRecord, notifier: ReferNotifier, requester: string): Promise<void> {
    const { conferenceId } = record;
    const members = await this.index.members(rosterIndexKey(conferenceId));
    const matches: { key: string; p: ParticipantRecord }[] = [];
    for (const legId of Object.keys(members)) {
      const key = participantKey(conferenceId, legId);
      const entry = await this.opts.stores.participants.get(key);
      if (entry && sameUri(entry.value.aor, record.target)) matches.push({ key, p: entry.value });
    }
    if (matches.length === 0) return notifier.final(404, 'Not Found');
    let last: SentRequestOutcome = { status: 481, reason: 'Call/Transaction Does Not Exist' };
    for (const { key, p } of matches) {
      let removed: ParticipantRecord | null = null;
      await this.opts.stores.participants.mutate(key, (current) => {
        removed = current && current.localTag === p.localTag ? current : null;
        return removed ? null : undefined;
      });
      if (!removed) continue; // it left meanwhile
      await this.opts.relays.release(p.relayAddress, conferenceId, p.legId).catch(() => false);
      await this.index.removeQuietly(rosterIndexKey(conferenceId), p.legId);
      this.announce('left', p, true);
      this.opts.logger.info(
        { conferenceId, legId: p.legId, target: record.target, requester },
        'participant removed by REFER',
      );
      last = await this.bye(p, 'removed from the conference');
    }
    // The sipfrag carries the BYE's answer; a party already gone still counts as removed.
    if (last.status === 481 || last.status === 408) return notifier.final(200, 'OK');
    return notifier.final(last.status, last.reason);
  }

  private async terminate(record: ReferralRecord, notifier: ReferNotifier, requester: string): Promise<void> {
    await this.opts.terminateConference!(record.conferenceId, `ended by ${requester}`);
    return notifier.final(200, 'OK');
  }

  private async bye(p: ParticipantRecord, why: string): Promise<SentRequestOutcome> {
    const current = await this.opts.stores.participants.get(participantKey(p.conferenceId, p.legId));
    const dialog = dialogOf(current?.value ?? p, this.opts.domain);
    const bye = createInDialogRequest(dialog, 'BYE', {
      headers: [{ name: 'Reason', value: `SIP ;cause=200 ;text="${why}"` }],
    });
    try {
      return await this.opts.send(bye, p.flow);
    } catch (err) {
      return { status: 503, reason: (err as Error).message };
    }
  }

  private announce(type: 'joined' | 'left', p: ParticipantRecord, removed = false): void {
    const event = {
      type,
      conferenceId: p.conferenceId,
      participant: rosterView(p),
      at: this.now(),
      ...(removed ? { removed } : {}),
    };
    this.opts.bus.publish(subjects.roster(p.conferenceId), encodeEvent(rosterEventSchema, event));
  }

  /** Sends one NOTIFY of a referral's implicit subscription; false when it ended the subscription. */
  async sendNotify(record: ReferralRecord, notify: ReferNotify): Promise<boolean> {
    const target = record.notify;
    if (!target) return true;
    const confUri = conferenceUri(record.conferenceId, this.opts.domain);
    let dialog: DialogState;
    let flow: ReferFlow;
    if (target.kind === 'participant') {
      const next = await this.opts.stores.participants.mutate(target.key, (current) =>
        current ? { ...current, localSeq: (current.localSeq ?? 0) + 1 } : undefined,
      );
      if (!next) return false; // the referrer left: nothing to tell
      dialog = dialogOf(next, this.opts.domain);
      dialog.localSeq = (next.localSeq ?? 1) - 1;
      flow = next.flow;
    } else {
      const key = referralKey(record.conferenceId, record.id);
      const next = await this.opts.stores.referrals.mutate(key, (current) =>
        current?.notify?.kind === 'dialog'
          ? {
              ...current,
              notify: {
                ...current.notify,
                dialog: { ...current.notify.dialog, localSeq: current.notify.dialog.localSeq + 1 },
              },
            }
          : undefined,
      );
      const stored = next?.notify?.kind === 'dialog' ? next.notify : target;
      dialog = { ...stored.dialog, localSeq: stored.dialog.localSeq - (next ? 1 : 0) };
      flow = stored.flow;
    }
    const request = createInDialogRequest(dialog, 'NOTIFY', {
      headers: [
        { name: 'Event', value: notify.event },
        { name: 'Subscription-State', value: notify.subscriptionState },
        { name: 'Contact', value: `<${confUri}>;isfocus` },
      ],
      body: notify.body,
      contentType: notify.contentType,
    });
    let outcome: SentRequestOutcome;
    try {
      outcome = await this.opts.send(request, flow);
    } catch (err) {
      outcome = { status: 503, reason: (err as Error).message };
    }
    const ok = outcome.status >= 200 && outcome.status < 300;
    if (!ok)
      this.opts.logger.warn(
        { conferenceId: record.conferenceId, referral: record.id, status: outcome.status },
        'refer NOTIFY refused',
      );
    // RFC 6665 §4.2.2: 481 or a timeout ends the subscription.
    return ok || (outcome.status !== 481 && outcome.status !== 408);
  }

  /**
   * Referrals whose replica died before finishing (it left membership): each is reported failed to its
   * referrer and its leg released. Called when the focus replicas change, and at start.
   */
  async recoverOrphans(): Promise<number> {
    const live = new Set(this.opts.liveReplicas());
    const members = await this.index.members(REFERRALS_INDEX_KEY);
    let recovered = 0;
    for (const key of Object.keys(members)) {
      const entry = await this.opts.stores.referrals.get(key);
      if (!entry) {
        await this.index.removeQuietly(REFERRALS_INDEX_KEY, key);
        continue;
      }
      const record = entry.value;
      if (live.has(record.owner) || !this.opts.owns(record.conferenceId)) continue;
      // Claim it (compare-and-set) so that two survivors do not both report it.
      let claimed: ReferralRecord | null = null;
      try {
        claimed = await this.opts.stores.referrals.mutate(key, (current) =>
          current && !live.has(current.owner) ? { ...current, owner: this.opts.selfId } : undefined,
        );
      } catch {
        continue;
      }
      if (!claimed || claimed.owner !== this.opts.selfId) continue;
      recovered++;
      const record2 = claimed;
      this.opts.logger.warn(
        {
          conferenceId: record2.conferenceId,
          referral: record2.id,
          kind: record2.kind,
          previousOwner: record.owner,
        },
        'referral orphaned by a focus replica that left: reporting it failed',
      );
      const work = (async () => {
        const p = record2.invite
          ? await this.opts.stores.participants.get(
              participantKey(record2.conferenceId, record2.invite.legId),
            )
          : null;
        const notifier = new ReferNotifier(this, record2, this.now);
        if (p) {
          // The dial-out had completed (the participant is stored); only its final NOTIFY was missing.
          await notifier.final(200, 'OK');
        } else {
          if (record2.leg && record2.invite) {
            await this.opts.relays
              .release(record2.leg.relayAddress, record2.conferenceId, record2.invite.legId)
              .catch(() => false);
          }
          if (record2.invite)
            await this.index.removeQuietly(rosterIndexKey(record2.conferenceId), record2.invite.legId);
          await notifier.final(503, 'Focus Replica Lost');
        }
        await notifier.done();
        await this.forget(record2);
      })();
      this.track(work);
    }
    return recovered;
  }
}

/** The NOTIFYs of one referral, sent one after another; the engine's snapshot kept in the record. */
class ReferNotifier {
  private chain: Promise<void> = Promise.resolve();
  private snapshot: ReferSnapshot;

  constructor(
    private readonly owner: Referrals,
    private readonly record: ReferralRecord,
    private readonly now: () => number,
  ) {
    this.snapshot = record.refer;
  }

  queue(notify: ReferNotify, delayMs = 0): void {
    this.chain = this.chain.then(async () => {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      await this.send(notify);
    });
  }

  /** A subscriber that answered 481 (or never) is gone (RFC 6665 §4.2.2): nothing more is sent to it. */
  private async send(notify: ReferNotify): Promise<void> {
    if (this.snapshot.reason === 'giveup') return;
    const alive = await this.owner.sendNotify(this.record, notify).catch(() => false);
    if (!alive)
      this.snapshot = {
        ...referNotifyFailed({ ...this.snapshot, status: 'active' }),
        lastStatus: this.snapshot.lastStatus,
      };
  }

  /** The referred request's final status: the last NOTIFY (unless Refer-Sub: false or the subscription is gone). */
  final(status: number, reason: string): Promise<void> {
    if (this.snapshot.lastStatus >= 200) return this.chain;
    const next = reportReferProgress(this.snapshot, status, reason, this.now());
    const wasGone = this.snapshot.reason === 'giveup';
    this.snapshot = wasGone ? { ...next.snapshot, reason: 'giveup' } : next.snapshot;
    const notify = next.notify;
    if (notify && !wasGone) this.chain = this.chain.then(() => this.send(notify));
    return this.chain;
  }

  done(): Promise<void> {
    return this.chain;
  }
}

function sameUri(a: string, b: string): boolean {
  try {
    return uriEquals(a, b);
  } catch {
    return a === b;
  }
}

/** Where to send a request for a SIP URI: its host and port (5060/5061), transport from `transport=`. */
export function flowOfUri(uri: string): ReferFlow {
  const parsed = parseUri(uri);
  const param = parsed.params.transport?.toLowerCase();
  const transport = param ?? (parsed.scheme === 'sips' ? 'tls' : 'udp');
  if (!['udp', 'tcp', 'tls', 'ws', 'wss'].includes(transport))
    throw new SipParseError(416, `Unsupported transport ${transport}`);
  return {
    transport,
    remoteHost: parsed.host,
    remotePort: parsed.port ?? (transport === 'tls' ? 5061 : 5060),
  };
}
