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
import { createTextOffer, parseTextAnswer, SdpNegotiationError } from '@sip-pubsub/media';
import type { Bus, JsonBucket, Logger } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  encodeEvent,
  type IndexRecord,
  type LegSpec,
  type ParticipantRecord,
  participantKey,
  REFERRALS_INDEX_KEY,
  type ReferDialogRecord,
  type ReferralRecord,
  referDialogKey,
  rosterEventSchema,
  rosterIndexKey,
  rosterShownOf,
  subjects,
} from '@sip-pubsub/proto';
import {
  acceptRefer,
  checkInDialogRequest,
  createInDialogRequest,
  createRequest,
  createResponse,
  type DialogState,
  dialogFromUasResponse,
  type Flow,
  generateCallId,
  generateTag,
  getHeader,
  getHeaders,
  isTransportProtocol,
  parseCSeq,
  parseNameAddr,
  parseReferTo,
  parseUri,
  peerFlow,
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
import type { ParticipantRequestSender, SentRequestOutcome } from './failover.js';
import { IndexWriter } from './indexes.js';
import {
  DEFAULT_TEXT_MEDIA,
  dialogNamedBy,
  dialogOf,
  findDialogParticipant,
  legIdOf,
  legSpecOf,
  MODE,
  roleOfDirection,
  rosterView,
  sdpSessionId,
} from './participant.js';
import { NoRelayAvailableError } from './relays.js';

export interface ReferralsOptions {
  domain: string;
  /** This replica's id, written into each referral it works on. */
  selfId: string;
  stores: {
    conferences: JsonBucket<ConferenceRecord>;
    participants: JsonBucket<ParticipantRecord>;
    indexes: JsonBucket<IndexRecord>;
    referrals: JsonBucket<ReferralRecord>;
    /**
     * The subscription dialogs of out-of-dialog REFERs (same bucket, `<conf>.dialog-…` keys), so that a
     * REFER inside one is a further subscription there (RFC 3515 §2.4.6); absent: such a REFER gets 481.
     */
    referDialogs?: JsonBucket<ReferDialogRecord>;
  };
  relays: {
    allocate(spec: LegSpec): Promise<{ relayId: string; relayAddress: string; host: string; port: number }>;
    update(relayAddress: string, spec: LegSpec): Promise<void>;
    release(relayAddress: string, conferenceId: string, legId: string): Promise<boolean>;
  };
  /**
   * Sends through an edge (SendRequest); `timeoutMs` bounds an INVITE (the edge CANCELs it then). With
   * `ownerAcks` the edge holds a 2xx until we send its ACK (through `edgeId` of the outcome), and ends
   * the dialog itself when that ACK does not come.
   */
  send: (
    request: SipRequest,
    flow: Flow,
    timeoutMs?: number,
    ownerAcks?: boolean,
  ) => Promise<SentRequestOutcome>;
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
  /** CONFERENCE_IDLE_TTL: asked once a dial-out's leg has its roster place; false = the conference is ending (404). */
  admits?: (conferenceId: string) => Promise<boolean>;
  now?: () => number;
  /** Runs work after the 202 has been handed back (default setImmediate). */
  defer?: (work: () => void) => void;
  /**
   * A referral unfinished this long after its start is taken over whatever its owner (that owner is
   * stuck); default DIAL_OUT_TIMEOUT_MS plus 5 minutes, past any INVITE, ACK, BYE and NOTIFY it waits for.
   */
  staleAfterMs?: number;
  /** Records a periodic sweep reads at most (the oldest unread first, round robin); default 100. */
  sweepBatch?: number;
}

/** How long the first NOTIFY waits after the 202 was handed to the edge. */
const FIRST_NOTIFY_DELAY_MS = 100;

export const referralKey = (conferenceId: string, id: string): string => `${conferenceId}.${id}`;

export class Referrals {
  private readonly now: () => number;
  private readonly index: IndexWriter;
  private readonly defer: (work: () => void) => void;
  /** Work under way here, so tests (and stop) can wait for it. */
  private readonly running = new Set<Promise<void>>();
  /** Referral keys this process works on: one owned by our id but not here is a previous incarnation's. */
  private readonly working = new Set<string>();
  /** Where the next periodic sweep starts in the (sorted) pending keys. */
  private sweepCursor = '';
  private sweepTimer: NodeJS.Timeout | undefined;

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
  async handle(req: SipRequest, conferenceId: string, flow: Flow, identity: string): Promise<SipResponse> {
    const toTag = parseNameAddr(getHeader(req, 'To') ?? '').params.tag ?? undefined;
    const localTag = toTag ?? generateTag();
    const refuse = (status: number, reason: string) =>
      createResponse(req, status, reason, { toTag: localTag });
    const conference = await this.opts.stores.conferences.get(conferenceId);
    // `closing`: the idle sweep is ending it (idle-sweeper.ts; a mark is only heeded while it runs).
    if (!conference || (this.opts.admits && conference.value.closing !== undefined))
      return refuse(404, 'Conference Not Found');
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

    // In a dialog: a participant's INVITE dialog (its NOTIFYs then share that dialog's CSeq space), or
    // the subscription dialog of an earlier REFER whose subscription still lives (RFC 3515 §2.4.6).
    const fromTag = parseNameAddr(getHeader(req, 'From') ?? '').params.tag ?? '';
    const dialogHash = legIdOf(getHeader(req, 'Call-ID') ?? '', fromTag);
    let participant: { key: string; record: ParticipantRecord } | undefined;
    let referDialog: string | undefined;
    if (toTag) {
      // A dial-in's dialog or a dialled-out party's own (its leg id hashes our tag), as the focus finds them.
      const found = await findDialogParticipant(
        (legId) => this.opts.stores.participants.get(participantKey(conferenceId, legId)),
        { callId: getHeader(req, 'Call-ID') ?? '', fromTag, toTag },
      );
      const key = participantKey(conferenceId, found.legId);
      const entry = found.entry;
      const dialogs = this.opts.stores.referDialogs;
      if (entry && entry.value.localTag === toTag) {
        // §12.2.2, as the notifier checks its dialogs: 481 for no dialog of ours, 500 for a CSeq not above.
        const refused = checkInDialogRequest(dialogNamedBy(entry.value, toTag, this.opts.domain), req);
        if (refused) return createResponse(req, refused.status, refused.reason);
        participant = { key, record: entry.value };
      } else {
        const dKey = referDialogKey(conferenceId, dialogHash);
        const d = dialogs ? await dialogs.get(dKey) : null;
        if (!d || d.value.dialog.localTag !== toTag || d.value.referrals.length === 0)
          return createResponse(req, 481, 'Call/Transaction Does Not Exist');
        if (parseCSeq(getHeader(req, 'CSeq') ?? '').seq <= d.value.remoteSeq)
          return createResponse(req, 500, 'CSeq Out of Order');
        referDialog = dKey;
      }
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
    // Its subscription's `id` is this CSeq, above every earlier one in the dialog (checked above), so the
    // subscriptions of one dialog never share an id (RFC 6665 §8.2.1 via RFC 3515 §2.4.6).
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
    let newReferDialog: { key: string; record: ReferDialogRecord } | undefined;
    if (accepted.snapshot.subscribed) {
      if (participant) record.notify = { kind: 'participant', key: participant.key };
      else if (referDialog) record.notify = { kind: 'refer-dialog', key: referDialog };
      else {
        let dialog: DialogState;
        try {
          dialog = dialogFromUasResponse(req, response);
        } catch (err) {
          return refuse(400, (err as Error).message);
        }
        if (this.opts.stores.referDialogs) {
          const key = referDialogKey(conferenceId, dialogHash);
          newReferDialog = {
            key,
            record: { conferenceId, dialog, flow: peerFlow(flow), remoteSeq: cseq, referrals: [id] },
          };
          record.notify = { kind: 'refer-dialog', key };
        } else record.notify = { kind: 'dialog', dialog, flow: peerFlow(flow) };
      }
    }
    if (referDialog) {
      // The REFER is a request in that dialog: its CSeq is now the one to beat, and its subscription
      // (if any) lives there too. Gone meanwhile (the last subscription ended): no dialog any more.
      const subscribed = accepted.snapshot.subscribed;
      const joined = await this.opts.stores.referDialogs!.mutate(referDialog, (current) =>
        current && current.referrals.length > 0 && current.dialog.localTag === toTag
          ? {
              ...current,
              remoteSeq: Math.max(current.remoteSeq, cseq),
              referrals: subscribed ? [...current.referrals, id] : current.referrals,
            }
          : undefined,
      );
      if (!joined || (subscribed && !joined.referrals.includes(id)))
        return createResponse(req, 481, 'Call/Transaction Does Not Exist');
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
    this.working.add(referralKey(conferenceId, id));
    if (newReferDialog) await this.opts.stores.referDialogs!.put(newReferDialog.key, newReferDialog.record);
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
    // Taken over meanwhile (we were stuck past staleAfterMs): the replica that took it forgets it.
    if (await this.lostTo(record)) {
      this.working.delete(key);
      return;
    }
    await this.opts.stores.referrals.delete(key).catch(() => undefined);
    await this.index.removeQuietly(REFERRALS_INDEX_KEY, key);
    this.working.delete(key);
    // RFC 6665 §4.5.2: the subscription dialog ends with its last subscription.
    const notify = record.notify;
    if (notify?.kind === 'refer-dialog' && this.opts.stores.referDialogs)
      await this.opts.stores.referDialogs
        .mutate(notify.key, (current) => {
          if (!current) return undefined;
          const rest = current.referrals.filter((other) => other !== record.id);
          if (rest.length === 0) return null;
          return rest.length === current.referrals.length ? undefined : { ...current, referrals: rest };
        })
        .catch((err: Error) =>
          this.opts.logger.warn(
            { conferenceId: record.conferenceId, referral: record.id, err: err.message },
            'refer dialog record not updated',
          ),
        );
  }

  /** Whether another replica took this referral over (or finished it): its final NOTIFY is not ours. */
  async lostTo(record: ReferralRecord): Promise<boolean> {
    const key = referralKey(record.conferenceId, record.id);
    const current = await this.opts.stores.referrals.get(key).catch(() => undefined);
    if (current === undefined) return false; // KV unreadable: go on as the owner we were
    return current === null || current.value.owner !== this.opts.selfId;
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
    let destination: Flow;
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
    if (this.opts.admits && !(await this.opts.admits(conferenceId))) {
      await this.index.removeQuietly(rosterIndexKey(conferenceId), legId);
      return notifier.final(404, 'Conference Not Found');
    }
    // Nothing flows before the answer says which way (the role follows its direction).
    const spec = legSpecOf(
      {
        conferenceId,
        legId,
        role: 'inactive',
        remoteMedia: { host: destination.remoteHost, port: 9 },
        textMedia: DEFAULT_TEXT_MEDIA,
      },
      conference.policy.invalidData,
    );
    let leg: Awaited<ReturnType<ReferralsOptions['relays']['allocate']>>;
    try {
      leg = await this.opts.relays.allocate(spec);
    } catch (err) {
      await this.index.removeQuietly(rosterIndexKey(conferenceId), legId);
      this.opts.logger.error({ conferenceId, legId, err: (err as Error).message }, 'dial-out: no relay leg');
      // As for a join: no relay at all, or a relay that failed (or ran out of time) allocating.
      return notifier.final(
        503,
        err instanceof NoRelayAvailableError ? 'No Media Relay Available' : 'Media Relay Allocation Failed',
      );
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
      outcome = await this.opts.send(request, destination, this.opts.dialOutTimeoutMs, true);
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
    // §13.2.2.4: the ACK is ours, at once; the edge held the 2xx for it (and ends the dialog without it).
    const acked = await this.acknowledge(ok, request, { ...destination, edgeId: outcome.edgeId });
    if (!acked) {
      await released();
      await this.byeUnusable(ok, request, destination, 'the answer could not be acknowledged in time', 408);
      return notifier.final(500, 'Dial-Out Answer Not Acknowledged');
    }
    let answer: ReturnType<typeof parseTextAnswer>;
    try {
      answer = parseTextAnswer(ok.body.toString('utf8'));
    } catch (err) {
      const why = err instanceof SdpNegotiationError ? err.warning : (err as Error).message;
      await released();
      await this.byeUnusable(ok, request, destination, why);
      return notifier.final(488, 'Not Acceptable Here');
    }
    const role = roleOfDirection(answer.direction);
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
      status: MODE[role].focus,
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
      await this.opts.relays.update(leg.relayAddress, legSpecOf(p, conference.policy.invalidData));
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

  /**
   * The ACK of the dial-out's 2xx, sent through the edge that holds that 2xx (owner_acks). False when
   * that edge no longer held it (it ended the dialog: we were too slow, or it is another edge now).
   */
  private async acknowledge(ok: SipResponse, invite: SipRequest, flow: Flow): Promise<boolean> {
    const ack = createInDialogRequest(answeredDialog(ok, invite), 'ACK', { cseq: 1 });
    let outcome: SentRequestOutcome;
    try {
      outcome = await this.opts.send(ack, flow);
    } catch (err) {
      outcome = { status: 503, reason: (err as Error).message };
    }
    if (outcome.status >= 200 && outcome.status < 300) return true;
    this.opts.logger.warn(
      { callId: getHeader(invite, 'Call-ID'), status: outcome.status, reason: outcome.reason },
      'dial-out: the ACK of its 2xx was refused by the edge',
    );
    return false;
  }

  /** A 2xx whose SDP we cannot use: end that dialog at once (RFC 3261 §13.2.2.4 leaves only BYE). */
  private async byeUnusable(
    ok: SipResponse,
    invite: SipRequest,
    flow: Flow,
    why: string,
    cause = 488,
  ): Promise<void> {
    const bye = createInDialogRequest(answeredDialog(ok, invite), 'BYE', {
      headers: [{ name: 'Reason', value: `SIP ;cause=${cause} ;text="${why.replace(/["\\]/g, "'")}"` }],
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
    let flow: Flow;
    if (target.kind === 'participant') {
      const next = await this.opts.stores.participants.mutate(target.key, (current) =>
        current ? { ...current, localSeq: (current.localSeq ?? 0) + 1 } : undefined,
      );
      if (!next) return false; // the referrer left: nothing to tell
      dialog = dialogOf(next, this.opts.domain);
      dialog.localSeq = (next.localSeq ?? 1) - 1;
      flow = next.flow;
    } else if (target.kind === 'refer-dialog') {
      // The dialog's CSeq space is shared by every subscription in it: claimed in its own record.
      // A terminating NOTIFY also takes its subscription out of the dialog, before it leaves: a REFER
      // the referrer sends on reading it finds the dialog as the NOTIFY said (RFC 6665 §4.5.2).
      const ends = notify.subscriptionState.startsWith('terminated');
      const next = this.opts.stores.referDialogs
        ? await this.opts.stores.referDialogs.mutate(target.key, (current) =>
            current
              ? {
                  ...current,
                  dialog: { ...current.dialog, localSeq: current.dialog.localSeq + 1 },
                  referrals: ends ? current.referrals.filter((r) => r !== record.id) : current.referrals,
                }
              : undefined,
          )
        : null;
      if (!next) return false; // the dialog is gone: nothing to tell
      dialog = { ...next.dialog, localSeq: next.dialog.localSeq - 1 };
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
   * Referrals whose replica died before finishing (it left membership, or it came back under the same
   * id and lost its memory), or that are stuck past `staleAfterMs`: each is reported to its referrer and
   * its leg released. Only conferences this replica owns, found through the `referrals.pending` index
   * (never a listing). Called when the focus replicas change, at start, and periodically (sweep()).
   */
  async recoverOrphans(opts: { periodic?: boolean } = {}): Promise<number> {
    const live = new Set(this.opts.liveReplicas());
    const members = await this.index.members(REFERRALS_INDEX_KEY);
    const now = this.now();
    const staleAfterMs = this.opts.staleAfterMs ?? this.opts.dialOutTimeoutMs + 300_000;
    // The conference id is in the key: others' referrals cost nothing here.
    let keys = Object.keys(members)
      .filter((key) => this.opts.owns(key.slice(0, key.lastIndexOf('.'))) && !this.working.has(key))
      .sort();
    if (opts.periodic) {
      // Bounded: at most sweepBatch reads, going round the pending keys from where the last sweep stopped.
      const batch = this.opts.sweepBatch ?? 100;
      const from = keys.findIndex((key) => key > this.sweepCursor);
      const rotated = from < 0 ? keys : [...keys.slice(from), ...keys.slice(0, from)];
      keys = rotated.slice(0, batch);
      this.sweepCursor = keys.length < rotated.length ? (keys.at(-1) ?? '') : '';
    }
    const orphaned = (r: ReferralRecord) =>
      !live.has(r.owner) ||
      (r.owner === this.opts.selfId && !this.working.has(referralKey(r.conferenceId, r.id))) ||
      now - r.startedAt >= staleAfterMs;
    let recovered = 0;
    for (const key of keys) {
      const entry = await this.opts.stores.referrals.get(key);
      if (!entry) {
        await this.index.removeQuietly(REFERRALS_INDEX_KEY, key);
        continue;
      }
      const record = entry.value;
      if (!orphaned(record)) continue;
      // Claim it (compare-and-set) so that two survivors do not both report it.
      let claimed: ReferralRecord | null = null;
      try {
        claimed = await this.opts.stores.referrals.mutate(key, (current) =>
          current && current.owner === record.owner && orphaned(current)
            ? { ...current, owner: this.opts.selfId }
            : undefined,
        );
      } catch {
        continue;
      }
      if (!claimed || claimed.owner !== this.opts.selfId) continue;
      this.working.add(key);
      recovered++;
      const record2 = claimed;
      this.opts.logger.warn(
        {
          conferenceId: record2.conferenceId,
          referral: record2.id,
          kind: record2.kind,
          previousOwner: record.owner,
        },
        'referral orphaned (its focus replica left, restarted or is stuck): finishing it',
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
      })()
        .catch((err: Error) =>
          this.opts.logger.warn(
            { conferenceId: record2.conferenceId, referral: record2.id, err: err.message },
            'could not finish an orphaned referral; the next sweep tries again',
          ),
        )
        // Not finished: the record stays ours but unworked, which the next sweep takes for an orphan.
        .finally(() => this.working.delete(key));
      this.track(work);
    }
    return recovered;
  }

  /**
   * Runs a bounded recoverOrphans every `intervalMs`, one pass at a time: a referral orphaned without
   * a membership change (a recovery pass that failed, a replica back under the same id, one stuck) is
   * finished within a few intervals. Each pass reads the index record and at most `sweepBatch` referrals.
   */
  startSweeping(intervalMs: number): void {
    this.stopSweeping();
    let busy = false;
    this.sweepTimer = setInterval(() => {
      if (busy) return;
      busy = true;
      const pass = this.recoverOrphans({ periodic: true })
        .then((n) => {
          if (n > 0) this.opts.logger.warn({ referrals: n }, 'orphaned referrals found by the sweep');
        })
        .catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'referral sweep failed'))
        .finally(() => {
          busy = false;
        });
      this.track(pass);
    }, intervalMs);
    this.sweepTimer.unref?.();
  }

  stopSweeping(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
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
  async final(status: number, reason: string): Promise<void> {
    if (this.snapshot.lastStatus >= 200) return this.chain;
    // Taken over while we were stuck: the replica that took it sends the final NOTIFY, once.
    if (await this.owner.lostTo(this.record)) return this.chain;
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

/** The dialog a 2xx to our INVITE created (§12.1.2), our CSeq at the INVITE's. */
function answeredDialog(ok: SipResponse, invite: SipRequest): DialogState {
  return {
    callId: getHeader(invite, 'Call-ID') ?? '',
    localTag: parseNameAddr(getHeader(invite, 'From') ?? '').params.tag ?? '',
    remoteTag: parseNameAddr(getHeader(ok, 'To') ?? '').params.tag ?? '',
    localUri: parseNameAddr(getHeader(invite, 'From') ?? '').uri,
    remoteUri: invite.uri,
    remoteTarget: parseNameAddr(getHeaders(ok, 'Contact')[0] ?? `<${invite.uri}>`).uri,
    routeSet: getHeaders(ok, 'Record-Route').reverse(),
    localSeq: 1,
    secure: false,
  };
}

function sameUri(a: string, b: string): boolean {
  try {
    return uriEquals(a, b);
  } catch {
    return a === b;
  }
}

/** Where to send a request for a SIP URI: its host and port (5060/5061), transport from `transport=`. */
export function flowOfUri(uri: string): Flow {
  const parsed = parseUri(uri);
  const param = parsed.params.transport?.toLowerCase();
  const transport = param ?? (parsed.scheme === 'sips' ? 'tls' : 'udp');
  if (!isTransportProtocol(transport)) throw new SipParseError(416, `Unsupported transport ${transport}`);
  return {
    transport,
    remoteHost: parsed.host,
    remotePort: parsed.port ?? (transport === 'tls' ? 5061 : 5060),
  };
}
