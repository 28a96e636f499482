// The focus of RFC 4579 for sip-pubsub: conference factory, topic registry, dial-in joins with the role
// taken from the SDP direction, leaves. Requests arrive already parsed; responses go back to the edge.
// State lives in KV (so any replica can take a conference over); changes are announced on the bus.
import {
  type AccessList,
  accessRefusalReason,
  classifyUri,
  conferenceUri,
  newConferenceId,
  PROFILE_ACCEPT,
  PROFILE_ALLOW,
  PROFILE_ALLOW_EVENTS,
  PROFILE_SUPPORTED,
} from '@sip-pubsub/events';
import {
  buildSessionDescription,
  buildTextAnswer,
  negotiateTextOffer,
  type Role,
  SdpNegotiationError,
  type TextOfferSummary,
} from '@sip-pubsub/media';
import type { Bus, JsonBucket, Logger } from '@sip-pubsub/platform';
import { KvConflictError, kvKey } from '@sip-pubsub/platform';
import {
  COUNTER_CONFERENCES,
  type ConferenceRecord,
  type DirectoryEvent,
  directoryEventSchema,
  directoryShardKey,
  directoryShardKeysOf,
  encodeEvent,
  type IndexRecord,
  type ParticipantRecord,
  participantKey,
  type RosterEvent,
  rosterEventSchema,
  rosterIndexKey,
  rosterShownOf,
  sameRosterShown,
  subjects,
  type TopicRecord,
} from '@sip-pubsub/proto';
import {
  checkInDialogRequest,
  createResponse,
  type DialogReferenceRequest,
  dialogReferenceOf,
  type Flow,
  generateTag,
  getHeader,
  getHeaders,
  type HeaderField,
  matchDialogReference,
  type NameAddr,
  parseCSeq,
  parseNameAddr,
  peerFlow,
  SipParseError,
  type SipRequest,
  type SipResponse,
} from '@sip-pubsub/sip';
import { dialogOwnerRefusal, identityUri, roleRefusal } from './access.js';
import { IndexWriter, type RoleLimits } from './indexes.js';
import {
  dialogNamedBy,
  findDialogParticipant,
  legIdOf,
  legSpecOf,
  MODE,
  narrowRole,
  referencedDialogOf,
  rosterView,
  sdpSessionId,
  textMediaOf,
} from './participant.js';
import { NoRelayAvailableError, type PlacedLeg, type RelayDirectory } from './relays.js';
import {
  decideSessionTimer,
  type SessionTimerDecision,
  type SessionTimerPolicy,
  sessionTimerHeaders,
} from './session-timer.js';
import { normaliseTopic } from './topic.js';

/** The focus also does RFC 4028 session timers (session-timer.ts) on INVITE, re-INVITE and UPDATE. */
export const FOCUS_SUPPORTED = `${PROFILE_SUPPORTED}, timer`;

/** Session-timer deadlines of stored participants (dialog-ending.ts), kept by the replica that answers. */
export interface SessionDeadlines {
  arm(p: ParticipantRecord): void;
  disarm(key: string): void;
  /** An ACK for the 2xx of INVITE `cseq` reached us (perhaps through another edge than the 2xx left by). */
  acked?(legId: string, cseq: number): void;
}

export interface FocusStores {
  conferences: JsonBucket<ConferenceRecord>;
  topics: JsonBucket<TopicRecord>;
  participants: JsonBucket<ParticipantRecord>;
  counters: JsonBucket<number>;
  /** Roster and directory index records (proto `indexes`): joins never list the participants bucket. */
  indexes: JsonBucket<IndexRecord>;
}

export interface FocusOptions {
  domain: string;
  onExistingTopic: 'redirect' | 'reject';
  invalidData: 'drop' | 'forward';
  maxConferences: number;
  maxLegsPerConference: number;
  /** Per-role caps given to new conferences; absent = none. */
  maxPublishersPerConference?: number;
  maxSubscribersPerConference?: number;
  stores: FocusStores;
  bus: Bus;
  relays: RelayDirectory;
  logger: Logger;
  now?: () => number;
  /** Host put in the SDP of OPTIONS answers. */
  mediaHost: string;
  /** The access list in force (reloaded from ACL_FILE); absent: everything allowed. */
  access?: () => AccessList;
  /** RFC 4028 policy; absent = { minSeconds: 90, preferredSeconds: 0 } (timers only when asked for). */
  sessionTimer?: SessionTimerPolicy;
  sessionDeadlines?: SessionDeadlines;
  /** REFER to a conference URI (refer.ts); absent: REFER is refused with 403. */
  referrals?: {
    handle(req: SipRequest, conferenceId: string, flow: Flow, identity: string): Promise<SipResponse>;
  };
  /** FACTORY_MODE: `redirect` (302, default) or `join` (an INVITE with an offer joins at the factory). */
  factoryMode?: 'redirect' | 'join';
  /**
   * Ends a participant dialog from the focus side (record removed, leg released, roster `left`, BYE in
   * the background) if `matches` holds; absent (unit tests): the record is removed without a BYE.
   */
  endParticipant?: (
    conferenceId: string,
    legId: string,
    reason: string,
    matches: (p: ParticipantRecord) => boolean,
  ) => Promise<boolean>;
  /**
   * CONFERENCE_IDLE_TTL (idle-sweeper.ts): asked after a new leg took its place in the roster index;
   * false (the conference ended or is being ended) gives the place back and answers 404.
   */
  admits?: (conferenceId: string) => Promise<boolean>;
}

/** What admission learned of a join (or re-INVITE, or UPDATE with an offer) for the steps after it. */
interface JoinAdmission {
  conferenceId: string;
  conference: ConferenceRecord;
  from: NameAddr;
  callId: string;
  remoteTag: string;
  localTag: string;
  legId: string;
  /** The participant this dialog already is (re-INVITE, UPDATE); absent for a new dialog. */
  previous?: ParticipantRecord;
  /** The participant a Replaces takes over (RFC 3891). */
  replaced?: ParticipantRecord;
  timer: SessionTimerDecision;
}

/** The SDP offer of a join and what it negotiates to, with the role the participant gets. */
interface JoinOffer {
  sdp: string;
  summary: TextOfferSummary;
}

// Moved to participant.ts; re-exported while other modules still import them from here.
export { legIdOf, rosterView, sdpSessionId, textMediaOf } from './participant.js';

export class Focus {
  private readonly now: () => number;
  private readonly index: IndexWriter;

  constructor(private readonly opts: FocusOptions) {
    this.now = opts.now ?? Date.now;
    this.index = new IndexWriter(opts.stores.indexes, this.now, opts.logger);
  }

  /**
   * Increments of the conference counter, one at a time in this process: concurrent compare-and-set
   * writes from one replica would only conflict with each other. A failed increment is logged, never
   * fails the creation that caused it (the cap is soft).
   */
  private counting: Promise<void> = Promise.resolve();

  private countConference(): void {
    this.counting = this.counting
      .then(() => this.opts.stores.counters.mutate(COUNTER_CONFERENCES, (n) => (n ?? 0) + 1))
      .then(
        () => undefined,
        (err: Error) => this.opts.logger.warn({ err: err.message }, 'conference counter not updated'),
      );
  }

  /**
   * Answers one request; null when none is due (ACK). Never throws for bad input: that gets a SIP error.
   * `identity` is the one the edge verified (SipRequestEnvelope.authenticated_identity; '' when
   * authentication is off).
   */
  async handle(req: SipRequest, flow: Flow, identity = ''): Promise<SipResponse | null> {
    const foreign = await this.foreignDialogRefusal(req, identity);
    if (foreign) return foreign;
    switch (req.method) {
      case 'ACK':
        this.noteAck(req);
        return null;
      case 'OPTIONS':
        return this.options(req);
      case 'INVITE':
        return this.invite(req, flow, identity);
      case 'BYE':
        return this.bye(req);
      case 'CANCEL':
        // The edge answers CANCEL hop by hop; one that reaches the focus matched no pending INVITE.
        return createResponse(req, 481, 'Call/Transaction Does Not Exist');
      case 'UPDATE':
        return this.update(req, flow, identity);
      case 'REFER':
        return this.refer(req, flow, identity);
      default:
        return createResponse(req, 405, 'Method Not Allowed', {
          headers: [{ name: 'Allow', value: PROFILE_ALLOW }],
        });
    }
  }

  private async refer(req: SipRequest, flow: Flow, identity: string): Promise<SipResponse> {
    const target = classifyUri(req.uri);
    const toTag = parseNameAddr(getHeader(req, 'To') ?? '').params.tag ?? generateTag();
    if (target.kind !== 'conference') return createResponse(req, 404, 'Not Found', { toTag });
    if (!this.opts.referrals) return createResponse(req, 403, 'REFER Not Enabled', { toTag });
    return this.opts.referrals.handle(req, target.conferenceId, flow, identity);
  }

  /**
   * The participant a request inside its dialog belongs to: a dial-in's leg id is legIdOf(Call-ID, the
   * participant's tag = From); a dialled-out party's (refer.ts) is legIdOf(Call-ID, our tag = To).
   */
  private async dialogParticipant(
    conferenceId: string,
    req: SipRequest,
  ): Promise<{ legId: string; entry: { value: ParticipantRecord; revision: number } | null }> {
    return findDialogParticipant(
      (legId) => this.opts.stores.participants.get(participantKey(conferenceId, legId)),
      {
        callId: getHeader(req, 'Call-ID') ?? '',
        fromTag: parseNameAddr(getHeader(req, 'From') ?? '').params.tag ?? '',
        toTag: parseNameAddr(getHeader(req, 'To') ?? '').params.tag,
      },
    );
  }

  /**
   * The stored participant whose dialog an in-dialog request names, checked as RFC 3261 §12.2.2 says and
   * as the notifier checks its dialogs (checkInDialogRequest): 481 when the request names no dialog of
   * ours, 500 when its CSeq is not above the last one.
   */
  private async inDialogParticipant(
    conferenceId: string,
    req: SipRequest,
  ): Promise<{ legId: string; record: ParticipantRecord } | SipResponse> {
    const { legId, entry } = await this.dialogParticipant(conferenceId, req);
    const toTag = parseNameAddr(getHeader(req, 'To') ?? '').params.tag;
    const refused = checkInDialogRequest(dialogNamedBy(entry?.value, toTag, this.opts.domain), req);
    if (refused) return createResponse(req, refused.status, refused.reason);
    return { legId, record: entry!.value };
  }

  private noteAck(req: SipRequest): void {
    const hooks = this.opts.sessionDeadlines;
    if (!hooks?.acked) return;
    try {
      const callId = getHeader(req, 'Call-ID') ?? '';
      const remoteTag = parseNameAddr(getHeader(req, 'From') ?? '').params.tag ?? '';
      hooks.acked(legIdOf(callId, remoteTag), parseCSeq(getHeader(req, 'CSeq') ?? '').seq);
    } catch {
      // An ACK we cannot read acknowledges nothing; it gets no response either way.
    }
  }

  private capabilityHeaders(contactUri: string): HeaderField[] {
    return [
      { name: 'Contact', value: `<${contactUri}>;isfocus` },
      { name: 'Allow', value: PROFILE_ALLOW },
      { name: 'Allow-Events', value: PROFILE_ALLOW_EVENTS },
      { name: 'Supported', value: FOCUS_SUPPORTED },
    ];
  }

  private get sessionTimerPolicy(): SessionTimerPolicy {
    return this.opts.sessionTimer ?? { minSeconds: 90, preferredSeconds: 0 };
  }

  /** RFC 4028 §9 for a request in (or creating) a dialog; a SIP error response when it is refused. */
  private sessionTimerOf(req: SipRequest, toTag: string): SessionTimerDecision | SipResponse {
    let decision: SessionTimerDecision;
    try {
      decision = decideSessionTimer(req, this.sessionTimerPolicy);
    } catch (err) {
      if (err instanceof SipParseError) return createResponse(req, 400, err.message, { toTag });
      throw err;
    }
    if (decision.kind === 'too-small')
      return createResponse(req, 422, 'Session Interval Too Small', {
        toTag,
        headers: [{ name: 'Min-SE', value: String(decision.minSeconds) }],
      });
    return decision;
  }

  private async options(req: SipRequest): Promise<SipResponse> {
    const target = classifyUri(req.uri);
    let contact: string;
    if (target.kind === 'factory') contact = `sip:factory@${this.opts.domain}`;
    else if (target.kind === 'conference' && (await this.opts.stores.conferences.get(target.conferenceId)))
      contact = conferenceUri(target.conferenceId, this.opts.domain);
    else return createResponse(req, 404, 'Not Found');
    return createResponse(req, 200, 'OK', {
      headers: [...this.capabilityHeaders(contact), { name: 'Accept', value: PROFILE_ACCEPT }],
      body: buildSessionDescription({ address: this.opts.mediaHost, port: 9 }),
      contentType: 'application/sdp',
    });
  }

  /**
   * An in-dialog request (To tag) to a participant dialog from another identity than the one that
   * created it gets 403, whatever the method (re-INVITE, BYE, UPDATE, REFER). Null otherwise,
   * including for unknown dialogs, which their method answers 481.
   */
  private async foreignDialogRefusal(req: SipRequest, identity: string): Promise<SipResponse | null> {
    if (identity === '' || req.method === 'ACK' || req.method === 'CANCEL') return null;
    const toTag = parseNameAddr(getHeader(req, 'To') ?? '').params.tag;
    const target = classifyUri(req.uri);
    if (!toTag || target.kind !== 'conference') return null;
    const { legId, entry } = await this.dialogParticipant(target.conferenceId, req);
    if (!entry || entry.value.localTag !== toTag) return null;
    const reason = dialogOwnerRefusal(entry.value.identity, identity);
    if (!reason) return null;
    this.opts.logger.warn(
      { conferenceId: target.conferenceId, legId, method: req.method, identity, owner: entry.value.identity },
      'in-dialog request from another identity refused',
    );
    return createResponse(req, 403, reason);
  }

  private async invite(req: SipRequest, flow: Flow, identity: string): Promise<SipResponse> {
    const target = classifyUri(req.uri);
    if (target.kind === 'factory') return this.createOrFind(req, flow, identity);
    if (target.kind === 'conference') return this.join(req, target.conferenceId, flow, identity);
    return createResponse(req, 404, 'Not Found', { toTag: generateTag() });
  }

  /** INVITE to the factory URI (RFC 4579 §5.4 via a redirect): the topic's conference, created if new. */
  private async createOrFind(req: SipRequest, flow: Flow, identity: string): Promise<SipResponse> {
    const toTag = generateTag();
    const check = normaliseTopic(getHeader(req, 'Subject'));
    if (!check.ok) return createResponse(req, 400, check.reason, { toTag });
    const topic = check.topic;
    const { conferences, topics } = this.opts.stores;
    const topicKey = kvKey(topic);

    const existing = await topics.get(topicKey);
    if (existing) {
      if (this.joinsAtFactory(req)) return this.join(req, existing.value.conferenceId, flow, identity);
      return this.redirectToExisting(req, existing.value.conferenceId, toTag);
    }
    if (this.opts.access && !this.opts.access().allows(identity, 'create', topic))
      return createResponse(req, 403, accessRefusalReason('create'), { toTag });

    // A soft cap: creations racing on other replicas may overshoot it; never a full scan per call.
    await this.counting;
    if (((await this.opts.stores.counters.get(COUNTER_CONFERENCES))?.value ?? 0) >= this.opts.maxConferences)
      return createResponse(req, 503, 'Too Many Conferences', {
        toTag,
        headers: [{ name: 'Retry-After', value: '60' }],
      });

    const id = newConferenceId();
    const created = this.now();
    // PROFILE.md "REFER": the creator is the authenticated identity, or From when authentication is off.
    const creator = identity
      ? identityUri(identity, this.opts.domain)
      : parseNameAddr(getHeader(req, 'From') ?? '').uri;
    await conferences.create(id, {
      id,
      topic,
      creator,
      created,
      policy: { onExistingTopic: this.opts.onExistingTopic, invalidData: this.opts.invalidData },
      maxUsers: this.opts.maxLegsPerConference,
      ...(this.opts.maxPublishersPerConference
        ? { maxPublishers: this.opts.maxPublishersPerConference }
        : {}),
      ...(this.opts.maxSubscribersPerConference
        ? { maxSubscribers: this.opts.maxSubscribersPerConference }
        : {}),
    });
    try {
      await topics.create(topicKey, { conferenceId: id, topic, created });
    } catch (err) {
      if (!(err instanceof KvConflictError)) throw err;
      // Another creator won the race for this topic: drop our conference and send the caller to theirs.
      await conferences.delete(id);
      const winner = await topics.get(topicKey);
      if (!winner) return createResponse(req, 500, 'Topic Registry Changed During Creation', { toTag });
      if (this.joinsAtFactory(req)) return this.join(req, winner.value.conferenceId, flow, identity);
      return this.redirectToExisting(req, winner.value.conferenceId, toTag);
    }
    this.countConference();
    // Before the announcement, so a directory NOTIFY it causes finds the conference in the index.
    await this.index
      .add(directoryShardKey(id), id)
      .catch((err: Error) =>
        this.opts.logger.warn({ conferenceId: id, err: err.message }, 'directory index not updated'),
      );
    this.opts.logger.info({ conferenceId: id, topic, creator }, 'conference created');
    this.announceDirectory({ type: 'created', conferenceId: id, topic, at: created });
    if (this.joinsAtFactory(req)) return this.join(req, id, flow, identity);
    return this.redirect(req, id, toTag);
  }

  /** FACTORY_MODE=join (RFC 4579 §5.5): a new INVITE with a body is answered by the conference itself. */
  private joinsAtFactory(req: SipRequest): boolean {
    return this.opts.factoryMode === 'join' && req.body.length > 0;
  }

  private redirectToExisting(req: SipRequest, conferenceId: string, toTag: string): SipResponse {
    if (this.opts.onExistingTopic === 'reject') {
      return createResponse(req, 409, 'Topic Exists', {
        toTag,
        headers: [{ name: 'Contact', value: `<${conferenceUri(conferenceId, this.opts.domain)}>;isfocus` }],
      });
    }
    return this.redirect(req, conferenceId, toTag);
  }

  private redirect(req: SipRequest, conferenceId: string, toTag: string): SipResponse {
    return createResponse(req, 302, 'Moved Temporarily', {
      toTag,
      headers: [{ name: 'Contact', value: `<${conferenceUri(conferenceId, this.opts.domain)}>;isfocus` }],
    });
  }

  /**
   * INVITE to a conference URI: a new participant, or a re-INVITE (or an UPDATE with an offer) that
   * changes one's session. Each step either answers the request (a refusal) or hands the next its part.
   */
  private async join(
    req: SipRequest,
    conferenceId: string,
    flow: Flow,
    identity: string,
  ): Promise<SipResponse> {
    const admitted = await this.admitJoin(req, conferenceId, identity);
    if (isRefusal(admitted)) return admitted;
    const offer = this.roleOfOffer(req, admitted, identity);
    if (isRefusal(offer)) return offer;
    const leg = await this.placeLeg(req, admitted, offer.summary);
    if (isRefusal(leg)) return leg;
    const stored = await this.storeParticipant(req, admitted, offer, leg, flow, identity);
    await this.announceJoin(admitted, stored.record, stored.at);
    return this.joinAnswer(req, admitted, stored.answer);
  }

  /**
   * Admission of a join: the conference exists (404), an in-dialog request names a dialog of ours with a
   * rising CSeq (481, 500), a Replaces or Join names one of this conference's dialogs that the caller may
   * take over (RFC 3891 / RFC 3911: 481, 403…), and the session timer is acceptable (RFC 4028: 422).
   */
  private async admitJoin(
    req: SipRequest,
    conferenceId: string,
    identity: string,
  ): Promise<JoinAdmission | SipResponse> {
    const from = parseNameAddr(getHeader(req, 'From') ?? '');
    const to = parseNameAddr(getHeader(req, 'To') ?? '');
    const callId = getHeader(req, 'Call-ID') ?? '';
    const remoteTag = from.params.tag ?? '';
    const existingTag = to.params.tag ?? undefined;
    const conference = await this.opts.stores.conferences.get(conferenceId);
    // `closing`: the idle sweep is ending it (idle-sweeper.ts; a mark is only heeded while it runs).
    if (!conference || (this.opts.admits && conference.value.closing !== undefined))
      return createResponse(req, 404, 'Conference Not Found', { toTag: existingTag ?? generateTag() });

    const localTag = existingTag ?? generateTag();
    const inDialog = existingTag ? await this.inDialogParticipant(conferenceId, req) : undefined;
    if (inDialog && isRefusal(inDialog)) return inDialog;
    const legId = inDialog?.legId ?? legIdOf(callId, remoteTag);

    // RFC 3891 / RFC 3911: a new dialog may name one of this conference's dialogs to replace or join.
    const reference = existingTag ? ({ kind: 'none' } as const) : dialogReferenceOf(req);
    if (reference.kind === 'refused')
      return createResponse(req, reference.status, reference.reason, { toTag: localTag });
    let replaced: ParticipantRecord | undefined;
    if (reference.kind === 'reference') {
      const found = await this.referencedParticipant(conferenceId, reference);
      if (found.kind === 'refused')
        return createResponse(req, found.status, found.reason, { toTag: localTag });
      if (reference.header === 'Replaces') {
        // RFC 3891 §6.1: only the identity that owns the dialog may take it over.
        const reason = dialogOwnerRefusal(found.dialog.record.identity, identity);
        if (reason) return createResponse(req, 403, reason, { toTag: localTag });
        replaced = found.dialog.record;
      }
    }

    const timer = this.sessionTimerOf(req, localTag);
    if (timer.kind === 'response') return timer;
    return {
      conferenceId,
      conference: conference.value,
      from,
      callId,
      remoteTag,
      localTag,
      legId,
      previous: inDialog?.record,
      replaced,
      timer,
    };
  }

  /**
   * The offer and the role it asks for (PROFILE "Roles from SDP"): an SDP body (488, 415) that negotiates
   * (488, 400), narrowed to the role a Replaces takes over, and allowed to this identity by the access list
   * (403), at the join and at every role change.
   */
  private roleOfOffer(req: SipRequest, admitted: JoinAdmission, identity: string): JoinOffer | SipResponse {
    const { localTag, replaced } = admitted;
    if (req.body.length === 0)
      return this.notAcceptable(req, localTag, 'an SDP offer is required in the INVITE');
    const contentType = (getHeader(req, 'Content-Type') ?? '').split(';')[0].trim().toLowerCase();
    if (contentType !== 'application/sdp')
      return createResponse(req, 415, 'Unsupported Media Type', {
        toTag: localTag,
        headers: [{ name: 'Accept', value: 'application/sdp' }],
      });

    let summary: TextOfferSummary;
    const sdp = req.body.toString('utf8');
    try {
      summary = negotiateTextOffer(sdp);
    } catch (err) {
      if (err instanceof SdpNegotiationError)
        return this.notAcceptable(req, localTag, err.warning, err.status, err.warnCode);
      throw err;
    }

    // Replaces takes over the old participant's role, as far as the new offer's direction allows it.
    if (replaced) summary = { ...summary, role: narrowRole(summary.role, replaced.role) };

    const roleRefused = this.opts.access
      ? roleRefusal(this.opts.access(), identity, admitted.conference.topic, summary.role)
      : undefined;
    if (roleRefused) return createResponse(req, 403, roleRefused, { toTag: localTag });
    return { sdp, summary };
  }

  /**
   * The relay leg for the offered role: a re-INVITE changes the participant's leg in place, after its new
   * role took its place under the per-role caps (486); a new participant first takes a place in the roster
   * index under the conference's caps (486), then gets a leg allocated (503 when no relay can).
   */
  private async placeLeg(
    req: SipRequest,
    admitted: JoinAdmission,
    summary: TextOfferSummary,
  ): Promise<PlacedLeg | SipResponse> {
    const { conferenceId, conference, legId, localTag, previous } = admitted;
    const spec = legSpecOf(
      {
        conferenceId,
        legId,
        role: summary.role,
        remoteMedia: { host: summary.address, port: summary.port },
        textMedia: textMediaOf(summary),
      },
      conference.policy.invalidData,
    );
    const roleLimits = { publishers: conference.maxPublishers, subscribers: conference.maxSubscribers };
    if (previous) {
      // A role change takes its place under the conference's per-role caps before the leg changes.
      const capped = roleLimits.publishers !== undefined || roleLimits.subscribers !== undefined;
      if (
        capped &&
        previous.role !== summary.role &&
        !(await this.index.add(rosterIndexKey(conferenceId), legId, summary.role, undefined, roleLimits))
      )
        return createResponse(req, 486, 'Conference Full For That Role', { toTag: localTag });
      await this.opts.relays.update(previous.relayAddress, spec);
      const { relayId, relayAddress, media } = previous;
      return { host: media.host, port: media.port, relayId, relayAddress };
    }
    // The leg takes its place in the roster index first: the limit holds by compare-and-set, and no
    // listing of the participants bucket is needed.
    const cap = conference.maxUsers ?? this.opts.maxLegsPerConference;
    if (!(await this.reserveLeg(conferenceId, legId, summary.role, cap, roleLimits)))
      return createResponse(req, 486, 'Conference Full', { toTag: localTag });
    if (this.opts.admits && !(await this.opts.admits(conferenceId))) {
      await this.index.removeQuietly(rosterIndexKey(conferenceId), legId);
      return createResponse(req, 404, 'Conference Not Found', { toTag: localTag });
    }
    try {
      return await this.opts.relays.allocate(spec);
    } catch (err) {
      await this.index.removeQuietly(rosterIndexKey(conferenceId), legId);
      this.opts.logger.error(
        { conferenceId, callId: admitted.callId, err: (err as Error).message },
        'relay allocation failed',
      );
      const reason =
        err instanceof NoRelayAvailableError ? 'No Media Relay Available' : 'Media Relay Allocation Failed';
      return createResponse(req, 503, reason, {
        toTag: localTag,
        headers: [{ name: 'Retry-After', value: '5' }],
      });
    }
  }

  /**
   * The SDP answer and the stored record of the participant. A new leg that could not be stored is given
   * back, with its place in the roster index (issue 7: no leaked ports), and the error rethrown.
   */
  private async storeParticipant(
    req: SipRequest,
    admitted: JoinAdmission,
    offer: JoinOffer,
    leg: PlacedLeg,
    flow: Flow,
    identity: string,
  ): Promise<{ record: ParticipantRecord; answer: string; at: number }> {
    const { conferenceId, legId, previous, replaced } = admitted;
    const { summary } = offer;
    const now = this.now();
    try {
      // RFC 3264 §8: one o= session id per participant dialog, its version raised with each answer.
      const answerVersion = (previous?.answerVersion ?? 0) + 1;
      const answer = buildTextAnswer(offer.sdp, summary, {
        address: leg.host,
        port: leg.port,
        sessionId: sdpSessionId(legId),
        sessionVersion: answerVersion,
        // A Replaces narrows the offer to the role it took over (RFC 3264 §6.1 lets the answerer narrow).
        ...(replaced ? { direction: MODE[summary.role].focus } : {}),
      });
      const record = this.joinedRecord(req, admitted, summary, leg, flow, identity, answerVersion, now);
      await this.opts.stores.participants.put(participantKey(conferenceId, legId), record);
      return { record, answer, at: now };
    } catch (err) {
      if (!previous) {
        await this.opts.relays.release(leg.relayAddress, conferenceId, legId).catch(() => false);
        await this.index.removeQuietly(rosterIndexKey(conferenceId), legId);
      }
      throw err;
    }
  }

  /** The participant record of a join or re-INVITE: what the dialog fixed before is kept (RFC 3261 §12). */
  private joinedRecord(
    req: SipRequest,
    admitted: JoinAdmission,
    summary: TextOfferSummary,
    leg: PlacedLeg,
    flow: Flow,
    identity: string,
    answerVersion: number,
    now: number,
  ): ParticipantRecord {
    const { conferenceId, legId, callId, remoteTag, localTag, from, previous, timer } = admitted;
    const record: ParticipantRecord = {
      conferenceId,
      legId,
      callId,
      remoteTag,
      localTag,
      // The roster shows who authenticated, not what From claims.
      aor: previous?.aor ?? (identity ? identityUri(identity, this.opts.domain) : from.uri),
      displayName: from.displayName,
      contact: parseNameAddr(getHeader(req, 'Contact') ?? getHeader(req, 'From') ?? '').uri,
      remoteSeq: parseCSeq(getHeader(req, 'CSeq') ?? '').seq,
      role: summary.role,
      status: MODE[summary.role].focus,
      relayId: leg.relayId,
      relayAddress: leg.relayAddress,
      media: { host: leg.host, port: leg.port },
      remoteMedia: { host: summary.address, port: summary.port },
      flow: peerFlow(flow),
      joinedAt: previous?.joinedAt ?? now,
      answerVersion,
      textMedia: textMediaOf(summary),
    };
    // §12.1.1: the route set is fixed by the dialog-creating INVITE (the edge Record-Routes itself).
    const routeSet = previous ? previous.routeSet : getHeaders(req, 'Record-Route');
    if (routeSet && routeSet.length > 0) record.routeSet = routeSet;
    // Our CSeq space in the dialog survives the participant's re-INVITEs (RFC 3261 §12.2.1.1).
    if (previous?.localSeq !== undefined) record.localSeq = previous.localSeq;
    if (previous?.dialledOut) record.dialledOut = true;
    const owner = previous ? previous.identity : identity || undefined;
    if (owner !== undefined) record.identity = owner;
    if (timer.kind === 'use')
      record.sessionTimer = { seconds: timer.seconds, refresher: timer.refresher, refreshedAt: now };
    return record;
  }

  /**
   * What follows a stored join: its session-timer deadline, the end of the dialog a Replaces took over,
   * its role in the roster index after a role change, and the roster event (`joined` or `changed`).
   */
  private async announceJoin(admitted: JoinAdmission, record: ParticipantRecord, at: number): Promise<void> {
    const { conferenceId, callId, legId, previous, replaced } = admitted;
    this.opts.sessionDeadlines?.arm(record);
    // The old dialog leaves first, so the roster goes from its endpoint to the new one (RFC 3891 §3: BYE).
    if (replaced) await this.endReplaced(replaced, legId);
    const changedRole = previous && previous.role !== record.role;
    // The roster index entry shows the stored participant (role, AOR, contact...): a roster document is
    // then one index read, whatever the number of participants. Before the announcement, which readers act on.
    const shown = rosterShownOf(record);
    if (!previous || changedRole || !sameRosterShown(rosterShownOf(previous), shown))
      await this.index.show(rosterIndexKey(conferenceId), legId, record.role, shown).catch((err: Error) => {
        this.opts.logger.warn({ conferenceId, legId, err: err.message }, 'roster index not updated');
      });
    if (!previous || changedRole) {
      this.announceRoster({
        type: previous ? 'changed' : 'joined',
        conferenceId,
        participant: rosterView(record),
        at,
      });
    }
    this.opts.logger.info(
      { conferenceId, callId, legId, role: record.role, relay: record.relayId },
      previous ? 're-INVITE' : 'participant joined',
    );
  }

  /** The 2xx of a join: the SDP answer, the focus's capabilities, and the session timer it agreed. */
  private joinAnswer(req: SipRequest, admitted: JoinAdmission, answer: string): SipResponse {
    return createResponse(req, 200, 'OK', {
      toTag: admitted.localTag,
      headers: [
        ...this.capabilityHeaders(conferenceUri(admitted.conferenceId, this.opts.domain)),
        { name: 'Accept', value: PROFILE_ACCEPT },
        ...sessionTimerHeaders(admitted.timer),
      ],
      body: answer,
      contentType: 'application/sdp',
    });
  }

  /**
   * The participant a Replaces or Join names (RFC 3891 §3): a dial-in's leg is keyed by the peer's tag
   * (from-tag), a dialled-out party's by ours (to-tag). Every stored participant dialog is confirmed.
   */
  private async referencedParticipant(
    conferenceId: string,
    reference: Extract<DialogReferenceRequest, { kind: 'reference' }>,
  ) {
    const { ref, header } = reference;
    const look = async (legId: string, dialledOut: boolean) => {
      const entry = await this.opts.stores.participants.get(participantKey(conferenceId, legId));
      if (!entry || Boolean(entry.value.dialledOut) !== dialledOut) return null;
      return referencedDialogOf(entry.value);
    };
    const candidates = await Promise.all([
      look(legIdOf(ref.callId, ref.fromTag), false),
      look(legIdOf(ref.callId, ref.toTag), true),
    ]);
    return matchDialogReference(header, ref, candidates);
  }

  /** Ends the dialog a Replaces took over: BYE, its leg released, its roster entry gone. */
  private async endReplaced(old: ParticipantRecord, byLegId: string): Promise<void> {
    const { conferenceId, legId } = old;
    await this.index.removeQuietly(rosterIndexKey(conferenceId), legId);
    const reason = 'replaced by another dialog (RFC 3891)';
    const same = (p: ParticipantRecord) => p.localTag === old.localTag && p.callId === old.callId;
    if (this.opts.endParticipant) await this.opts.endParticipant(conferenceId, legId, reason, same);
    else await this.removeParticipant(old, participantKey(conferenceId, legId));
    this.opts.logger.info({ conferenceId, legId, by: byLegId }, 'participant replaced');
  }

  /** A place in the conference's roster index, after pruning stale entries if it looks full. */
  /** `limit` is the conference's own cap (the roster's maximum-user-count), the one it was created with. */
  private async reserveLeg(
    conferenceId: string,
    legId: string,
    role: Role,
    limit: number,
    roleLimits: RoleLimits,
  ): Promise<boolean> {
    const key = rosterIndexKey(conferenceId);
    if (await this.index.add(key, legId, role, limit, roleLimits)) return true;
    const pruned = await this.index.prune(
      key,
      async (leg) => (await this.opts.stores.participants.get(participantKey(conferenceId, leg))) !== null,
    );
    return pruned > 0 && this.index.add(key, legId, role, limit, roleLimits);
  }

  private notAcceptable(
    req: SipRequest,
    toTag: string,
    warning: string,
    status = 488,
    warnCode = 399,
  ): SipResponse {
    const reason = status === 488 ? 'Not Acceptable Here' : 'Bad Request';
    // RFC 3261 §20.43: warn-code, warn-agent, quoted warn-text.
    return createResponse(req, status, reason, {
      toTag,
      headers: [
        { name: 'Warning', value: `${warnCode} ${this.opts.domain} "${warning.replace(/["\\]/g, "'")}"` },
      ],
    });
  }

  private async bye(req: SipRequest): Promise<SipResponse> {
    const target = classifyUri(req.uri);
    const callId = getHeader(req, 'Call-ID') ?? '';
    // In-dialog requests target our Contact, the conference URI (RFC 3261 §12.2.1.1).
    if (target.kind !== 'conference') return createResponse(req, 481, 'Call/Transaction Does Not Exist');
    const found = await this.inDialogParticipant(target.conferenceId, req);
    if (isRefusal(found)) return found;
    const { legId, record: p } = found;
    await this.removeParticipant(p, participantKey(target.conferenceId, legId));
    this.opts.logger.info({ conferenceId: p.conferenceId, callId, legId }, 'participant left');
    return createResponse(req, 200, 'OK');
  }

  /** Removes a stored participant without a BYE from us: leg released, record and index entry gone. */
  private async removeParticipant(p: ParticipantRecord, key: string): Promise<void> {
    const callId = p.callId;
    await this.opts.relays.release(p.relayAddress, p.conferenceId, p.legId).catch((err: Error) => {
      this.opts.logger.warn(
        { conferenceId: p.conferenceId, callId, err: err.message },
        'relay leg release failed',
      );
      return false;
    });
    await this.opts.stores.participants.delete(key);
    this.opts.sessionDeadlines?.disarm(key);
    await this.index.removeQuietly(rosterIndexKey(p.conferenceId), p.legId);
    this.announceRoster({
      type: 'left',
      conferenceId: p.conferenceId,
      participant: rosterView(p),
      at: this.now(),
    });
  }

  /**
   * UPDATE (RFC 3311) inside a participant's dialog: with an SDP offer it changes the session like a
   * re-INVITE; without one it is a session refresh (RFC 4028 §10) that only renews the session timer.
   */
  private async update(req: SipRequest, flow: Flow, identity: string): Promise<SipResponse> {
    const target = classifyUri(req.uri);
    const to = parseNameAddr(getHeader(req, 'To') ?? '');
    // Early-dialog UPDATE is not used here: our INVITEs are answered at once, so every UPDATE is in a dialog.
    if (target.kind !== 'conference' || to.params.tag == null)
      return createResponse(req, 481, 'Call/Transaction Does Not Exist');
    if (req.body.length > 0) return this.join(req, target.conferenceId, flow, identity);
    const found = await this.inDialogParticipant(target.conferenceId, req);
    if (isRefusal(found)) return found;
    const key = participantKey(target.conferenceId, found.legId);
    const seq = parseCSeq(getHeader(req, 'CSeq') ?? '').seq;
    const timer = this.sessionTimerOf(req, to.params.tag);
    if (timer.kind === 'response') return timer;
    const now = this.now();
    const stored = await this.opts.stores.participants.mutate(key, (current) => {
      if (!current || current.localTag !== to.params.tag) return undefined;
      const next: ParticipantRecord = { ...current, remoteSeq: Math.max(current.remoteSeq, seq) };
      if (timer.kind === 'use')
        next.sessionTimer = { seconds: timer.seconds, refresher: timer.refresher, refreshedAt: now };
      else delete next.sessionTimer;
      return next;
    });
    if (!stored || stored.localTag !== to.params.tag)
      return createResponse(req, 481, 'Call/Transaction Does Not Exist');
    this.opts.sessionDeadlines?.arm(stored);
    return createResponse(req, 200, 'OK', {
      headers: [
        ...this.capabilityHeaders(conferenceUri(target.conferenceId, this.opts.domain)),
        ...sessionTimerHeaders(timer),
      ],
    });
  }

  /**
   * Ends a conference (REFER `Refer-To: <conf URI;method=BYE>` from its creator or an admin, or the idle
   * expiry): every participant gets BYE, the topic is free again, the directory says `deleted`, and the
   * notifier ends every watcher with `reason=noresource` when it sees that. True when this call ended it.
   */
  async terminateConference(conferenceId: string, reason: string): Promise<boolean> {
    const { conferences, topics } = this.opts.stores;
    const conference = await conferences.get(conferenceId);
    if (!conference) return false;
    const { topic } = conference.value;
    // The conference record goes first: a join racing with us then gets 404 instead of a place.
    await conferences.delete(conferenceId);
    const topicKey = kvKey(topic);
    const registered = await topics.get(topicKey);
    if (registered?.value.conferenceId === conferenceId) await topics.delete(topicKey);
    const rosterKey = rosterIndexKey(conferenceId);
    const members = await this.index.members(rosterKey);
    for (const legId of Object.keys(members)) {
      const key = participantKey(conferenceId, legId);
      if (this.opts.endParticipant) await this.opts.endParticipant(conferenceId, legId, reason, () => true);
      else {
        const entry = await this.opts.stores.participants.get(key);
        if (entry) await this.removeParticipant(entry.value, key);
      }
    }
    await this.index.removeQuietly(rosterKey, ...Object.keys(members));
    for (const shard of directoryShardKeysOf(conferenceId))
      await this.index.removeQuietly(shard, conferenceId);
    await this.counting;
    await this.opts.stores.counters
      .mutate(COUNTER_CONFERENCES, (n) => Math.max(0, (n ?? 1) - 1))
      .catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'conference counter not updated'));
    this.announceDirectory({ type: 'deleted', conferenceId, topic, at: this.now() });
    this.opts.logger.info(
      { conferenceId, topic, participants: Object.keys(members).length, reason },
      'conference ended',
    );
    return true;
  }

  private announceRoster(event: RosterEvent): void {
    this.opts.bus.publish(subjects.roster(event.conferenceId), encodeEvent(rosterEventSchema, event));
  }

  private announceDirectory(event: DirectoryEvent): void {
    this.opts.bus.publish(subjects.directory, encodeEvent(directoryEventSchema, event));
  }
}

/** A step's result that is already the answer (a refusal), not what the next step needs. */
function isRefusal(value: object): value is SipResponse {
  return (value as { kind?: unknown }).kind === 'response';
}
