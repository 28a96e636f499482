// Ends participant dialogs the focus did not hear end (issue 7 "legs that never die"): a 2xx the edge
// says was never ACKed (RFC 3261 §13.3.1.4), a session timer that ran out without a refresh (RFC 4028
// §10), a leg its relay closed for silence (pubsub.legs.closed.<relayId>), or an answer whose INVITE the
// edge had already given up on. Each: the record is deleted (compare-and-set, so only one ender wins),
// the relay leg released, the roster told `left`, and a BYE sent through the edge when the peer may
// still think the dialog is up.
import { conferenceUri } from '@sip-pubsub/events';
import type { Bus, BusSubscription, JsonBucket, Logger } from '@sip-pubsub/platform';
import {
  decodeEvent,
  encodeEvent,
  type IndexRecord,
  type LegClosed,
  legClosedSchema,
  type ParticipantRecord,
  participantKey,
  rosterEventSchema,
  rosterIndexKey,
  subjects,
} from '@sip-pubsub/proto';
import { createInDialogRequest } from '@sip-pubsub/sip';
import type { ParticipantRequestSender } from './failover.js';
import { IndexWriter } from './indexes.js';
import { dialogOf, legIdOf, rosterView } from './participant.js';
import type { RelayDirectory } from './relays.js';
import { sessionDeadlineMs, sessionRefreshMs } from './session-timer.js';

export interface DialogEndingOptions {
  domain: string;
  participants: JsonBucket<ParticipantRecord>;
  /**
   * Roster index records (proto `indexes`): the leg leaves its conference's index before the roster
   * hears `left`, since the notifier builds the roster from the index (the deletion watch is too late).
   */
  indexes?: JsonBucket<IndexRecord>;
  relays: RelayDirectory;
  send: ParticipantRequestSender;
  bus: Bus;
  logger: Logger;
  /** Whether this replica owns the conference (rendezvous over focus-controller replicas). */
  owns: (conferenceId: string) => boolean;
  now?: () => number;
}

/** Why a dialog is ended: for the log, and the BYE's Reason header (RFC 3326) when one is sent. */
export interface EndCause {
  reason: string;
  /** SIP status named in the Reason header; undefined = no BYE (the peer has no dialog, or it is gone). */
  byeCause?: number;
}

/** What the edge reports in FocusController.DialogFailed. */
export interface DialogFailureReport {
  callId: string;
  localTag: string;
  remoteTag: string;
  cseq: number;
  routingKey: string;
  reason: string;
}

/** How long an INVITE the edge gave up on is remembered: well past any join's run time. */
const ABANDONED_WINDOW_MS = 60_000;
/** How long an ACK is remembered: past 64*T1 for any T1 the edge allows (SIP_T1_MS ≤ 10 s, so ≤ 640 s). */
const ACKED_WINDOW_MS = 15 * 60_000;
const MAX_REMEMBERED = 100_000;

export class DialogEnding {
  private readonly now: () => number;
  /** Session-timer deadlines armed by this replica, per participant key. */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private subscription: BusSubscription | undefined;
  private readonly index: IndexWriter | undefined;

  constructor(private readonly opts: DialogEndingOptions) {
    this.now = opts.now ?? Date.now;
    this.index = opts.indexes ? new IndexWriter(opts.indexes, this.now, opts.logger) : undefined;
  }

  /**
   * Ends the participant `legId` of `conferenceId` if it is stored and `matches` it; true when this
   * call ended it. The BYE goes out in the background: its answer may take 64*T1 to come.
   */
  async end(
    conferenceId: string,
    legId: string,
    cause: EndCause,
    matches: (p: ParticipantRecord) => boolean = () => true,
  ): Promise<boolean> {
    const key = participantKey(conferenceId, legId);
    let removed: ParticipantRecord | null = null;
    await this.opts.participants.mutate(key, (current) => {
      removed = current && matches(current) ? current : null;
      return removed ? null : undefined;
    });
    const p = removed as ParticipantRecord | null;
    if (!p) return false;
    this.disarm(key);
    const log = { conferenceId, callId: p.callId, legId, relay: p.relayId, reason: cause.reason };
    this.opts.logger.warn(log, 'participant dialog ended by the focus');
    await this.opts.relays.release(p.relayAddress, conferenceId, legId).catch(async (err: Error) => {
      // Once more: the record is gone, so nothing else would ever give this port back.
      this.opts.logger.warn({ ...log, err: err.message }, 'relay leg release failed; trying again');
      return this.opts.relays.release(p.relayAddress, conferenceId, legId).catch((again: Error) => {
        this.opts.logger.error({ ...log, err: again.message }, 'relay leg release failed');
        return false;
      });
    });
    if (this.index) await this.index.removeQuietly(rosterIndexKey(conferenceId), legId);
    this.opts.bus.publish(
      subjects.roster(conferenceId),
      encodeEvent(rosterEventSchema, {
        type: 'left',
        conferenceId,
        participant: rosterView(p),
        at: this.now(),
      }),
    );
    if (cause.byeCause !== undefined) {
      const bye = createInDialogRequest(dialogOf(p, this.opts.domain), 'BYE', {
        headers: [
          {
            name: 'Reason',
            value: `SIP ;cause=${cause.byeCause} ;text="${cause.reason.replace(/["\\]/g, "'")}"`,
          },
        ],
      });
      // Not awaited: the edge may wait 64*T1 for the answer of a peer that is gone.
      this.opts
        .send(bye, p.flow)
        .then((outcome) => this.opts.logger.info({ ...log, status: outcome.status }, 'BYE answered'))
        .catch((err: Error) => this.opts.logger.warn({ ...log, err: err.message }, 'BYE not sent'));
    }
    return true;
  }

  /**
   * FocusController.DialogFailed: the edge's 2xx for this dialog's INVITE got no ACK within 64*T1, or
   * (localTag '') the edge answered a new INVITE itself because we were too slow. In the second case the
   * join may still be under way here: it is remembered, and the join undoes itself when it ends (abandoned()).
   */
  dialogFailed(report: DialogFailureReport): Promise<boolean> {
    const legId = legIdOf(report.callId, report.remoteTag);
    // The ACK may have come in through another edge replica than the one whose 2xx went unanswered.
    if (report.localTag !== '' && this.recent(this.ackedInvites, legId, report.cseq, ACKED_WINDOW_MS))
      return Promise.resolve(false);
    if (report.localTag === '') {
      this.rememberAbandoned(legId, report.cseq);
      return this.end(
        report.routingKey,
        legId,
        { reason: report.reason || 'the edge answered the INVITE itself' },
        (p) => p.callId === report.callId && p.remoteSeq === report.cseq,
      );
    }
    // §13.3.1.4: "the dialog is confirmed, but the session SHOULD be terminated ... with a BYE".
    return this.end(
      report.routingKey,
      legId,
      { reason: report.reason || 'no ACK for 2xx', byeCause: 408 },
      (p) => p.localTag === report.localTag && p.callId === report.callId,
    );
  }

  /** New INVITEs (leg id and CSeq) the edge answered itself, for a while: legId\ncseq → when told. */
  private readonly abandonedInvites = new Map<string, number>();

  /** ACKs seen for 2xx responses to INVITEs (leg id and CSeq), for a while: legId\ncseq → when seen. */
  private readonly ackedInvites = new Map<string, number>();

  private remember(map: Map<string, number>, legId: string, cseq: number, windowMs: number): void {
    const now = this.now();
    // Oldest first (insertion order): drop what is past the window, and keep the map bounded.
    for (const [key, at] of map) {
      if (now - at < windowMs && map.size < MAX_REMEMBERED) break;
      map.delete(key);
    }
    map.delete(`${legId}\n${cseq}`);
    map.set(`${legId}\n${cseq}`, now);
  }

  private recent(map: Map<string, number>, legId: string, cseq: number, windowMs: number): boolean {
    const at = map.get(`${legId}\n${cseq}`);
    return at !== undefined && this.now() - at < windowMs;
  }

  private rememberAbandoned(legId: string, cseq: number): void {
    this.remember(this.abandonedInvites, legId, cseq, ABANDONED_WINDOW_MS);
  }

  /** Whether the edge already answered the new INVITE (leg, CSeq) itself: its participant must not stay. */
  abandoned(legId: string, cseq: number): boolean {
    return this.recent(this.abandonedInvites, legId, cseq, ABANDONED_WINDOW_MS);
  }

  /** Notes the ACK of INVITE (leg, CSeq): a later report that its 2xx went unACKed is then ignored. */
  acked(legId: string, cseq: number): void {
    this.remember(this.ackedInvites, legId, cseq, ACKED_WINDOW_MS);
  }

  /** A relay closed a leg for silence: end the participant if its record still names that relay's leg. */
  legClosed(event: LegClosed): Promise<boolean> {
    if (!this.opts.owns(event.conferenceId)) return Promise.resolve(false);
    return this.end(
      event.conferenceId,
      event.legId,
      { reason: `media leg closed by its relay: ${event.reason}`, byeCause: 408 },
      (p) => p.relayId === event.relayId,
    );
  }

  /** Follows pubsub.legs.closed.* on the bus; malformed events are logged and dropped. */
  follow(bus: Bus): this {
    this.subscription = bus.subscribe(subjects.legClosedAll, (msg) => {
      const parsed = decodeEvent(legClosedSchema, msg.data);
      if (!parsed.ok) {
        this.opts.logger.warn({ subject: msg.subject, err: parsed.error }, 'bad leg-closed event');
        return;
      }
      this.legClosed(parsed.value).catch((err: Error) =>
        this.opts.logger.error(
          { conferenceId: parsed.value.conferenceId, legId: parsed.value.legId, err: err.message },
          'could not end the participant of a closed leg',
        ),
      );
    });
    return this;
  }

  /**
   * Arms (or re-arms) the session-timer deadline of a stored participant (RFC 4028 §10: refreshed by it);
   * a record without a session timer disarms it.
   */
  arm(p: ParticipantRecord): void {
    const key = participantKey(p.conferenceId, p.legId);
    const timer = p.sessionTimer;
    if (!timer) {
      this.disarm(key);
      return;
    }
    if (timer.refresher === 'uas')
      this.schedule(key, timer.refreshedAt + sessionRefreshMs(timer.seconds), () =>
        this.refresh(key, p.conferenceId, p.legId),
      );
    else
      this.schedule(key, timer.refreshedAt + sessionDeadlineMs(timer.seconds), () =>
        this.expire(key, p.conferenceId, p.legId),
      );
  }

  /** Runs `fn` at time `at` (this.now() clock), replacing what was scheduled for `key`. */
  private schedule(key: string, at: number, fn: () => Promise<void>): void {
    this.disarm(key);
    const handle = setTimeout(
      () => {
        this.timers.delete(key);
        fn().catch((err: Error) => this.opts.logger.error({ key, err: err.message }, 'session timer failed'));
      },
      Math.max(0, at - this.now()),
    );
    handle.unref?.();
    this.timers.set(key, handle);
  }

  /**
   * RFC 4028 §10, the focus as refresher: an UPDATE in the dialog at half the interval. 2xx renews the
   * timer; 408 or 481 (or no edge) ends the dialog; 491 is retried shortly; another refusal leaves the
   * session to expire at the end of the interval unless the participant refreshes it meanwhile.
   */
  private async refresh(key: string, conferenceId: string, legId: string): Promise<void> {
    // Ownership moved (membership change): the new owner adopts the timer (adoptOwned).
    if (!this.opts.owns(conferenceId)) return;
    const entry = await this.opts.participants.get(key);
    const timer = entry?.value.sessionTimer;
    if (!entry || !timer || timer.refresher !== 'uas') return;
    if (timer.refreshedAt + sessionRefreshMs(timer.seconds) > this.now()) {
      this.arm(entry.value); // the participant refreshed it meanwhile
      return;
    }
    // Our CSeq in the dialog, claimed before sending (RFC 3261 §12.2.1.1; failover does the same).
    let claimed: ParticipantRecord | null = null;
    await this.opts.participants.mutate(key, (current) => {
      claimed = current ? { ...current, localSeq: (current.localSeq ?? 0) + 1 } : null;
      return claimed ?? undefined;
    });
    const p = claimed as ParticipantRecord | null;
    if (!p) return;
    const update = createInDialogRequest(dialogOf(p, this.opts.domain), 'UPDATE', {
      cseq: p.localSeq,
      headers: [
        { name: 'Contact', value: `<${conferenceUri(conferenceId, this.opts.domain)}>;isfocus` },
        { name: 'Supported', value: 'timer' },
        { name: 'Session-Expires', value: `${timer.seconds};refresher=uas` },
      ],
    });
    let status: number;
    try {
      status = (await this.opts.send(update, p.flow)).status;
    } catch {
      status = 503;
    }
    if (status >= 200 && status < 300) {
      const now = this.now();
      const stored = await this.opts.participants.mutate(key, (current) =>
        current?.sessionTimer && current.localTag === p.localTag
          ? { ...current, sessionTimer: { ...current.sessionTimer, refreshedAt: now } }
          : undefined,
      );
      if (stored) this.arm(stored);
      return;
    }
    if (status === 491) {
      // §14.1 glare: the participant is changing the session; try again within 2 s.
      this.schedule(key, this.now() + 1_000 + Math.floor(Math.random() * 1_000), () =>
        this.refresh(key, conferenceId, legId),
      );
      return;
    }
    if (status === 408 || status === 481 || status === 503) {
      await this.end(
        conferenceId,
        legId,
        { reason: `session refresh answered ${status}`, byeCause: 408 },
        (r) => r.localTag === p.localTag,
      );
      return;
    }
    const expiresAt = timer.refreshedAt + timer.seconds * 1_000;
    this.schedule(key, expiresAt, async () => {
      const now = await this.opts.participants.get(key);
      const t = now?.value.sessionTimer;
      if (now && t && t.refreshedAt + t.seconds * 1_000 > this.now()) {
        this.arm(now.value);
        return;
      }
      await this.end(
        conferenceId,
        legId,
        { reason: `session refresh refused (${status}); expired`, byeCause: 408 },
        (r) => r.localTag === p.localTag,
      );
    });
  }

  disarm(key: string): void {
    const handle = this.timers.get(key);
    if (handle) clearTimeout(handle);
    this.timers.delete(key);
  }

  /** Ends the participant if its stored session timer has run out; re-arms when it was refreshed meanwhile. */
  private async expire(key: string, conferenceId: string, legId: string): Promise<void> {
    if (!this.opts.owns(conferenceId)) return; // the new owner adopts the timer (adoptOwned)
    const entry = await this.opts.participants.get(key);
    const timer = entry?.value.sessionTimer;
    if (!entry || !timer) return;
    if (timer.refresher === 'uas' || timer.refreshedAt + sessionDeadlineMs(timer.seconds) > this.now()) {
      this.arm(entry.value);
      return;
    }
    await this.end(
      conferenceId,
      legId,
      { reason: `no session refresh within ${timer.seconds} s`, byeCause: 408 },
      (p) =>
        p.sessionTimer !== undefined &&
        p.sessionTimer.refreshedAt + sessionDeadlineMs(p.sessionTimer.seconds) <= this.now(),
    );
  }

  /**
   * FocusController.AdoptSessionTimer: another replica stored a participant of a conference we own
   * (FACTORY_MODE=join): its deadline is armed here, from the stored record. False when we do not own
   * the conference or the record is gone or has no session timer.
   */
  async adopt(conferenceId: string, legId: string): Promise<boolean> {
    if (!this.opts.owns(conferenceId)) return false;
    const entry = await this.opts.participants.get(participantKey(conferenceId, legId));
    if (!entry?.value.sessionTimer) return false;
    this.arm(entry.value);
    return true;
  }

  /**
   * Arms the session timers of owned participants that have none armed here: after a membership change
   * this replica may own conferences whose deadlines were kept by a replica that is gone. Scans the
   * participant keys (not a request path; membership changes are rare). Returns how many it armed.
   */
  async adoptOwned(): Promise<number> {
    let armed = 0;
    for (const key of await this.opts.participants.keys()) {
      const conferenceId = key.slice(0, key.indexOf('.'));
      if (this.timers.has(key) || !this.opts.owns(conferenceId)) continue;
      const entry = await this.opts.participants.get(key).catch(() => null);
      if (!entry?.value.sessionTimer) continue;
      this.arm(entry.value);
      armed++;
    }
    return armed;
  }

  get armedTimers(): number {
    return this.timers.size;
  }

  stop(): void {
    this.subscription?.unsubscribe();
    for (const handle of this.timers.values()) clearTimeout(handle);
    this.timers.clear();
  }
}
