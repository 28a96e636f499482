// Relay failover (DESIGN.md "Failover"): when a media-relay replica leaves membership, the focus replica
// that owns a conference moves each of its participants whose leg was on that relay: a new leg on a
// surviving relay, then a re-INVITE in the participant's dialog (RFC 3261 §14.1) whose offer points to it.
// A participant that cannot be moved is removed, as if it had left. Two replicas that both think they own
// a conference during a membership change meet at the record's compare-and-set: only one sends.
import { conferenceUri, PROFILE_ALLOW, PROFILE_SUPPORTED } from '@sip-pubsub/events';
import { createTextOffer, parseTextAnswer, SdpNegotiationError } from '@sip-pubsub/media';
import type { Bus, JsonBucket, Logger, Member, Membership } from '@sip-pubsub/platform';
import { KvConflictError } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  encodeEvent,
  type IndexRecord,
  type LegSpec,
  type ParticipantRecord,
  type RosterEvent,
  rosterEventSchema,
  rosterIndexKey,
  subjects,
} from '@sip-pubsub/proto';
import { createInDialogRequest, type Flow, type SipRequest, type SipResponse } from '@sip-pubsub/sip';
import { IndexWriter } from './indexes.js';
import { DEFAULT_TEXT_MEDIA, dialogOf, legSpecOf, MODE, rosterView, sdpSessionId } from './participant.js';
import { type PlacedLeg, RELAY_SERVICE, type RelayDirectory } from './relays.js';

/** What came back for a request sent through an edge; `response` is absent when the edge made it up (408, 503). */
export interface SentRequestOutcome {
  status: number;
  reason: string;
  response?: SipResponse;
  /** The edge replica that sent it (an ACK for its 2xx must go through the same one). */
  edgeId?: string;
}

/** Sends a request to a participant through an edge (SendRequest); the edge ACKs a 2xx to an INVITE. */
export type ParticipantRequestSender = (request: SipRequest, flow: Flow) => Promise<SentRequestOutcome>;

export interface RelayFailoverOptions {
  domain: string;
  stores: {
    participants: JsonBucket<ParticipantRecord>;
    conferences: JsonBucket<ConferenceRecord>;
    /** Roster index records (proto `indexes`), kept in step when failover removes a participant. */
    indexes?: JsonBucket<IndexRecord>;
  };
  relays: RelayDirectory;
  send: ParticipantRequestSender;
  bus: Bus;
  logger: Logger;
  /** Whether this replica owns the conference (rendezvous over focus-controller replicas). */
  owns: (conferenceId: string) => boolean;
  now?: () => number;
  /** Wait before trying again after 491 Request Pending; RFC 3261 §14.1: 0–2 s for the dialog's callee. */
  glareBackoffMs?: () => number;
}

export type FailoverOutcome = 'moved' | 'removed' | 'skipped';

export interface FailoverSummary {
  moved: number;
  removed: number;
  skipped: number;
}

/** How many times a participant is re-read after losing a compare-and-set or meeting 491, before giving up. */
const MAX_ATTEMPTS = 3;

/** The offer that moves a participant to `leg`: its own payload types and options, our direction towards it. */
export function failoverOffer(p: ParticipantRecord, leg: Pick<PlacedLeg, 'host' | 'port'>): string {
  const media = p.textMedia ?? DEFAULT_TEXT_MEDIA;
  return createTextOffer({
    address: leg.host,
    port: leg.port,
    direction: MODE[p.role].focus,
    t140Pt: media.t140Pt,
    redPt: media.redPt,
    red: media.redPt !== undefined,
    redundancy: Math.max(media.redundancy, 1),
    rtcpMux: media.rtcpMux,
    mixer: media.mode === 'mix',
    aggregateWindowMs: media.mode === 'aggregate' ? media.aggregateWindowMs : undefined,
    // Same o= session as our earlier answers in this dialog, one version further (RFC 3264 §8).
    sessionId: sdpSessionId(p.legId),
    sessionVersion: p.answerVersion + 1,
  });
}

// Moved to participant.ts; re-exported while other modules still import it from here.
export { dialogOf } from './participant.js';

export class RelayFailover {
  private readonly now: () => number;
  private readonly glareBackoffMs: () => number;
  /** Participants being moved by this replica, so overlapping membership changes do not move one twice. */
  private readonly inProgress = new Set<string>();

  private readonly index: IndexWriter | undefined;

  constructor(private readonly opts: RelayFailoverOptions) {
    this.now = opts.now ?? Date.now;
    this.index = opts.stores.indexes
      ? new IndexWriter(opts.stores.indexes, this.now, opts.logger)
      : undefined;
    this.glareBackoffMs = opts.glareBackoffMs ?? (() => Math.floor(Math.random() * 2_000));
  }

  /** Moves the participants of owned conferences whose legs were on one of `departed` (relay members). */
  async relaysLeft(departed: readonly Pick<Member, 'id' | 'address'>[]): Promise<FailoverSummary> {
    const summary: FailoverSummary = { moved: 0, removed: 0, skipped: 0 };
    if (departed.length === 0) return summary;
    const gone = goneRelays(departed);
    // A scan of every participant: simple, and relays leave rarely.
    const keys = await this.opts.stores.participants.keys();
    const owned = keys.filter((key) => this.opts.owns(key.slice(0, key.indexOf('.'))));
    const outcomes = await Promise.all(
      owned.map((key) =>
        this.moveParticipant(key, gone).catch((err: Error) => {
          this.opts.logger.error({ key, err: err.message }, 'relay failover of a participant failed');
          return 'skipped' as const;
        }),
      ),
    );
    for (const outcome of outcomes) summary[outcome]++;
    summary.skipped += keys.length - owned.length;
    return summary;
  }

  /** Moves one participant if its leg is on a departed relay and its conference is ours. */
  async moveParticipant(key: string, gone: (p: ParticipantRecord) => boolean): Promise<FailoverOutcome> {
    if (this.inProgress.has(key)) return 'skipped';
    this.inProgress.add(key);
    try {
      return await this.move(key, gone);
    } finally {
      this.inProgress.delete(key);
    }
  }

  private async move(key: string, gone: (p: ParticipantRecord) => boolean): Promise<FailoverOutcome> {
    const { participants } = this.opts.stores;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const entry = await participants.get(key);
      if (!entry || !gone(entry.value) || !this.opts.owns(entry.value.conferenceId)) return 'skipped';
      const p = entry.value;
      const conference = await this.opts.stores.conferences.get(p.conferenceId);
      const spec = legSpecOf(p, conference?.value.policy.invalidData ?? 'drop', { resumes: true });

      let leg: PlacedLeg;
      try {
        leg = await this.opts.relays.allocate(spec);
      } catch (err) {
        return this.remove(key, p, `no relay for a new leg: ${(err as Error).message}`, true);
      }

      // Claim the move with compare-and-set: the record names the new leg and the dialog's next CSeq
      // before anything is sent, so a replica that races us finds nothing left to move.
      const claimed: ParticipantRecord = {
        ...p,
        relayId: leg.relayId,
        relayAddress: leg.relayAddress,
        media: { host: leg.host, port: leg.port },
        localSeq: (p.localSeq ?? 0) + 1,
      };
      try {
        await participants.update(key, claimed, entry.revision);
      } catch (err) {
        await this.releaseQuietly(leg, p);
        if (err instanceof KvConflictError) continue; // changed meanwhile: look again
        throw err;
      }
      return this.reinvite(key, claimed, leg, spec, p.relayId);
    }
    this.opts.logger.warn({ key }, 'relay failover gave up after repeated conflicts');
    return 'skipped';
  }

  /** Sends the re-INVITE for a claimed move (again after 491) and settles the outcome. */
  private async reinvite(
    key: string,
    claimed: ParticipantRecord,
    leg: PlacedLeg,
    spec: LegSpec,
    oldRelay: string,
  ): Promise<FailoverOutcome> {
    let p = claimed;
    const offer = failoverOffer(p, leg);
    for (let attempt = 1; ; attempt++) {
      const invite = createInDialogRequest(dialogOf(p, this.opts.domain), 'INVITE', {
        cseq: p.localSeq,
        headers: [
          { name: 'Contact', value: `<${conferenceUri(p.conferenceId, this.opts.domain)}>;isfocus` },
          { name: 'Allow', value: PROFILE_ALLOW },
          { name: 'Supported', value: PROFILE_SUPPORTED },
        ],
        body: offer,
        contentType: 'application/sdp',
      });
      let outcome: SentRequestOutcome;
      try {
        outcome = await this.opts.send(invite, p.flow);
      } catch (err) {
        outcome = { status: 503, reason: `edge unreachable: ${(err as Error).message}` };
      }
      if (outcome.status >= 200 && outcome.status < 300)
        return this.accepted(key, p, leg, spec, outcome.response, oldRelay);
      if (outcome.status === 491 && attempt < MAX_ATTEMPTS) {
        // §14.1: the participant is changing the session itself; ours goes after it, with the next CSeq.
        await new Promise((r) => setTimeout(r, this.glareBackoffMs()));
        const next = await this.opts.stores.participants.mutate(key, (current) =>
          current ? { ...current, localSeq: (current.localSeq ?? 0) + 1 } : undefined,
        );
        if (!next) {
          await this.releaseQuietly(leg, p);
          return 'skipped'; // it left meanwhile
        }
        p = next;
        continue;
      }
      await this.releaseQuietly(leg, p);
      // §12.2.1.2: 481 and 408 end the dialog; after any other refusal it lives on, so we end it.
      const bye = outcome.status !== 481 && outcome.status !== 408;
      return this.remove(key, p, `re-INVITE answered ${outcome.status} ${outcome.reason}`, bye);
    }
  }

  /** The participant took the new relay: point the leg at the address it answered with and store it. */
  private async accepted(
    key: string,
    p: ParticipantRecord,
    leg: PlacedLeg,
    spec: LegSpec,
    ok: SipResponse | undefined,
    oldRelay: string,
  ): Promise<FailoverOutcome> {
    let remote = p.remoteMedia;
    try {
      const answer = parseTextAnswer(ok?.body.toString('utf8') ?? '');
      remote = { host: answer.address, port: answer.port };
    } catch (err) {
      await this.releaseQuietly(leg, p);
      const why = err instanceof SdpNegotiationError ? err.warning : (err as Error).message;
      return this.remove(key, p, `unusable SDP answer to the re-INVITE: ${why}`, true);
    }
    if (remote.host !== spec.remoteHost || remote.port !== spec.remotePort)
      await this.opts.relays.update(leg.relayAddress, {
        ...spec,
        remoteHost: remote.host,
        remotePort: remote.port,
      });
    const stored = await this.opts.stores.participants.mutate(key, (current) =>
      current ? { ...current, remoteMedia: remote, answerVersion: current.answerVersion + 1 } : undefined,
    );
    if (!stored) {
      await this.releaseQuietly(leg, p);
      return 'skipped'; // it left while we were moving it
    }
    this.opts.logger.info(
      { conferenceId: p.conferenceId, callId: p.callId, legId: p.legId, oldRelay, newRelay: leg.relayId },
      'participant moved to another relay',
    );
    return 'moved';
  }

  /** Ends a participant we could not move: leg gone, record deleted, roster told; BYE if its dialog lives. */
  private async remove(
    key: string,
    p: ParticipantRecord,
    cause: string,
    bye: boolean,
  ): Promise<FailoverOutcome> {
    this.opts.logger.error(
      { conferenceId: p.conferenceId, callId: p.callId, legId: p.legId, relay: p.relayId, cause },
      'relay failover removed a participant',
    );
    const deleted = await this.opts.stores.participants
      .mutate(key, () => null)
      .then(
        () => true,
        (err: Error) => {
          this.opts.logger.error(
            { conferenceId: p.conferenceId, callId: p.callId, err: err.message },
            'could not delete participant',
          );
          return false;
        },
      );
    if (deleted) {
      if (this.index) await this.index.removeQuietly(rosterIndexKey(p.conferenceId), p.legId);
      const event: RosterEvent = {
        type: 'left',
        conferenceId: p.conferenceId,
        participant: rosterView(p),
        at: this.now(),
      };
      this.opts.bus.publish(subjects.roster(p.conferenceId), encodeEvent(rosterEventSchema, event));
    }
    if (bye) {
      const request = createInDialogRequest(dialogOf(p, this.opts.domain), 'BYE', {
        headers: [{ name: 'Reason', value: 'SIP ;cause=503 ;text="media relay lost"' }],
      });
      await this.opts
        .send(request, p.flow)
        .catch((err: Error) =>
          this.opts.logger.warn(
            { conferenceId: p.conferenceId, callId: p.callId, err: err.message },
            'BYE not sent',
          ),
        );
    }
    return 'removed';
  }

  private async releaseQuietly(leg: PlacedLeg, p: ParticipantRecord): Promise<void> {
    await this.opts.relays.release(leg.relayAddress, p.conferenceId, p.legId).catch((err: Error) => {
      this.opts.logger.warn(
        { conferenceId: p.conferenceId, callId: p.callId, relay: leg.relayId, err: err.message },
        'could not release a replacement leg',
      );
      return false;
    });
  }
}

/** Whether a record's leg is on one of the departed relays (by member id, or by address for safety). */
export function goneRelays(
  departed: readonly Pick<Member, 'id' | 'address'>[],
): (p: ParticipantRecord) => boolean {
  const ids = new Set(departed.map((m) => m.id));
  const addresses = new Set(departed.map((m) => m.address));
  return (p) => ids.has(p.relayId) || addresses.has(p.relayAddress);
}

/**
 * Calls `onLeft` with the relay replicas that left membership at each change; arrivals are not a trigger
 * (a relay that comes back starts empty and gets new legs by placement).
 */
export function watchRelayDepartures(
  membership: Pick<Membership, 'members' | 'on'>,
  onLeft: (departed: Member[]) => void,
): void {
  let known = new Map(membership.members(RELAY_SERVICE).map((m) => [m.id, m]));
  membership.on('change', (service) => {
    if (service !== RELAY_SERVICE) return;
    const current = new Map(membership.members(RELAY_SERVICE).map((m) => [m.id, m]));
    const departed = [...known.values()].filter((m) => !current.has(m.id));
    known = current;
    if (departed.length > 0) onLeft(departed);
  });
}
