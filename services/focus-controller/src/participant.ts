// A participant of a conference as the focus keeps it (proto ParticipantRecord), and what the record maps
// to: its relay leg (LegSpec), its SIP dialog (RFC 3261 §12) and its roster entry (RFC 4575 <endpoint>).
// One table says what each role is on every side (PROFILE "Roles from SDP"); nothing else spells it out.
import { createHash } from 'node:crypto';
import { conferenceUri } from '@sip-pubsub/events';
import type { Direction, ForwardingMode, Role, TextOfferSummary } from '@sip-pubsub/media';
import type { LegSpec, ParticipantRecord, RosterEvent, TextMediaRecord } from '@sip-pubsub/proto';
import type { DialogState } from '@sip-pubsub/sip';

/** What one role is, seen from each side of a participant's m=text stream. */
export interface RoleMode {
  /** The direction in the participant's own SDP: its offer to us, or its answer to our dial-out offer. */
  peer: Direction;
  /** Ours towards it: the direction of our answer, of our failover re-INVITE's offer, the roster `status`. */
  focus: Direction;
  /** Its relay leg takes publications from it (LegSpec.publishes). */
  publishes: boolean;
  /** Its relay leg delivers the topic's publications to it (LegSpec.subscribes). */
  subscribes: boolean;
}

/** SDP direction ↔ role ↔ relay leg ↔ our direction (RFC 3264 §6.1: each side's view of one stream). */
export const MODE: Readonly<Record<Role, RoleMode>> = {
  publisher: { peer: 'sendonly', focus: 'recvonly', publishes: true, subscribes: false },
  subscriber: { peer: 'recvonly', focus: 'sendonly', publishes: false, subscribes: true },
  both: { peer: 'sendrecv', focus: 'sendrecv', publishes: true, subscribes: true },
  inactive: { peer: 'inactive', focus: 'inactive', publishes: false, subscribes: false },
};

const ROLES = Object.keys(MODE) as Role[];

/** The role a participant's own SDP direction gives it (every direction names exactly one role). */
export function roleOfDirection(peer: Direction): Role {
  return ROLES.find((role) => MODE[role].peer === peer)!;
}

/** The role a relay leg serves: which ways publications flow on it. */
export function roleOfLeg(leg: Pick<RoleMode, 'publishes' | 'subscribes'>): Role {
  return ROLES.find(
    (role) => MODE[role].publishes === leg.publishes && MODE[role].subscribes === leg.subscribes,
  )!;
}

/** Which roles an answer may keep when narrowing an offer (RFC 3264 §6.1): the intersection of both. */
export function narrowRole(offered: Role, held: Role): Role {
  return roleOfLeg({
    publishes: MODE[offered].publishes && MODE[held].publishes,
    subscribes: MODE[offered].subscribes && MODE[held].subscribes,
  });
}

/** How the relay forwards to a leg, by the mode its offer asked for (PROFILE "Media"). */
export const FORWARDING_MODE: Readonly<Record<ForwardingMode, NonNullable<LegSpec['mode']>>> = {
  translate: 'FORWARDING_MODE_TRANSLATE',
  mix: 'FORWARDING_MODE_MIX',
  aggregate: 'FORWARDING_MODE_AGGREGATE',
};

const INVALID_DATA: Readonly<Record<'drop' | 'forward', NonNullable<LegSpec['invalidData']>>> = {
  drop: 'INVALID_DATA_POLICY_DROP',
  forward: 'INVALID_DATA_POLICY_FORWARD',
};

/**
 * Text media of a party that said nothing more (records written before textMedia was kept, a dial-out
 * before its answer): what the client SDK offers (PROFILE "Media").
 */
export const DEFAULT_TEXT_MEDIA: Readonly<TextMediaRecord> = {
  t140Pt: 98,
  redPt: 100,
  redundancy: 2,
  mode: 'translate',
  rtcpMux: false,
};

/** What a relay leg needs of the negotiated m=text line, kept in the record for failover. */
export function textMediaOf(summary: TextOfferSummary): TextMediaRecord {
  const media: TextMediaRecord = {
    t140Pt: summary.t140Pt,
    redundancy: summary.redundancy,
    mode: summary.mode,
    rtcpMux: summary.rtcpMux,
  };
  if (summary.redPt !== undefined) media.redPt = summary.redPt;
  if (summary.aggregateWindowMs !== undefined) media.aggregateWindowMs = summary.aggregateWindowMs;
  return media;
}

/** The parts of a participant its relay leg is made of; a whole record is one. */
export type LegSource = Pick<
  ParticipantRecord,
  'conferenceId' | 'legId' | 'role' | 'remoteMedia' | 'textMedia'
>;

/**
 * The relay leg of a participant: at the join, at each change of its session, and for a new relay after
 * failover (`resumes`: the subscriber had the retained values from its first leg, PROFILE "PUBLISH").
 */
export function legSpecOf(
  p: LegSource,
  invalidData: 'drop' | 'forward',
  options: { resumes?: boolean } = {},
): LegSpec {
  const media = p.textMedia ?? DEFAULT_TEXT_MEDIA;
  const spec: LegSpec = {
    conferenceId: p.conferenceId,
    legId: p.legId,
    publishes: MODE[p.role].publishes,
    subscribes: MODE[p.role].subscribes,
    remoteHost: p.remoteMedia.host,
    remotePort: p.remoteMedia.port,
    t140Pt: media.t140Pt,
    redPt: media.redPt ?? 0,
    redundancy: media.redundancy,
    mode: FORWARDING_MODE[media.mode],
    aggregateWindowMs: media.aggregateWindowMs ?? 0,
    rtcpMux: media.rtcpMux,
    invalidData: INVALID_DATA[invalidData],
  };
  if (options.resumes) spec.resumes = true;
  return spec;
}

/** A leg is one participant dialog: Call-ID plus the participant's tag identify it (RFC 3261 §12). */
export function legIdOf(callId: string, remoteTag: string): string {
  return createHash('sha256').update(`${callId}\n${remoteTag}`).digest('hex').slice(0, 32);
}

/** A stored participant as read from KV, with the revision a compare-and-set needs. */
export interface ParticipantEntry {
  value: ParticipantRecord;
  revision: number;
}

/**
 * The participant whose dialog an in-dialog request (Call-ID, From tag, To tag) names. A dial-in's leg id
 * hashes the caller's tag, which is the request's From tag; a dialled-out party's hashes our own tag, which
 * is then the request's To tag, and the record must name the sender's tag as the remote one. `legId` is the
 * dial-in id when nothing matched.
 */
export async function findDialogParticipant(
  get: (legId: string) => Promise<ParticipantEntry | null>,
  dialog: { callId: string; fromTag: string; toTag?: string | null },
): Promise<{ legId: string; entry: ParticipantEntry | null }> {
  const legId = legIdOf(dialog.callId, dialog.fromTag);
  const entry = await get(legId);
  if (entry || !dialog.toTag) return { legId, entry };
  const dialled = legIdOf(dialog.callId, dialog.toTag);
  const other = await get(dialled);
  if (other?.value.dialledOut && other.value.remoteTag === dialog.fromTag)
    return { legId: dialled, entry: other };
  return { legId, entry };
}

/** The focus's o= session id towards a participant: stable for the dialog, derived from its leg id. */
export function sdpSessionId(legId: string): string {
  // 48 bits of a hash: a decimal number within JavaScript's safe integers (RFC 8866 §5.2 numeric id).
  return String(Number.parseInt(createHash('sha256').update(legId).digest('hex').slice(0, 12), 16));
}

/** The focus's side of a participant's dialog (§12.1.1 as the UAS of a dial-in, §12.1.2 as a dial-out's UAC). */
export function dialogOf(p: ParticipantRecord, domain: string): DialogState {
  return {
    callId: p.callId,
    localTag: p.localTag,
    remoteTag: p.remoteTag,
    localUri: conferenceUri(p.conferenceId, domain),
    remoteUri: p.aor,
    remoteTarget: p.contact,
    routeSet: p.routeSet ?? [],
    localSeq: p.localSeq ?? 0,
    remoteSeq: p.remoteSeq,
    secure: p.contact.toLowerCase().startsWith('sips:'),
  };
}

/**
 * The dialog a request inside one names (its To tag is our tag), if it is this participant's; undefined
 * otherwise, which checkInDialogRequest answers 481 (RFC 3261 §12.2.2).
 */
export function dialogNamedBy(
  p: ParticipantRecord | null | undefined,
  toTag: string | null | undefined,
  domain: string,
): DialogState | undefined {
  return p && typeof toTag === 'string' && p.localTag === toTag ? dialogOf(p, domain) : undefined;
}

/** A stored participant as a dialog a Replaces or Join may name (RFC 3891 §3): every stored one is confirmed. */
export function referencedDialogOf(p: ParticipantRecord) {
  return {
    callId: p.callId,
    localTag: p.localTag,
    remoteTag: p.remoteTag,
    state: 'confirmed' as const,
    initiatedLocally: Boolean(p.dialledOut),
    record: p,
  };
}

/** What the conference's roster shows of a participant (the notifier's <endpoint>). */
export function rosterView(p: ParticipantRecord): RosterEvent['participant'] {
  return {
    legId: p.legId,
    aor: p.aor,
    displayName: p.displayName,
    role: p.role,
    status: p.status,
    joinedAt: p.joinedAt,
  };
}
