// Records kept in the KV buckets of DESIGN.md ("State"). Several services read them (the focus writes
// conferences and participants, the notifier reads them for full-state notifications), so like the
// .proto file they are a contract and live here. Values are validated on read.
import { z } from 'zod';
import { directionSchema, roleSchema } from './bus-events';

export const BUCKETS = {
  conferences: 'conferences',
  topics: 'topics',
  participants: 'participants',
  subscriptions: 'subscriptions',
  publications: 'publications',
  counters: 'counters',
  /** Digest nonce-counts already accepted by some edge (`<nonce>.<nc>`), kept for the nonce lifetime. */
  nonceCounts: 'auth-nonce-counts',
  indexes: 'indexes',
  /** Dial-outs and removals the focus accepted with 202 and has not finished (REFER, RFC 4579 §5.6/§5.11). */
  referrals: 'referrals',
} as const;

/** Counters kept with compare-and-set in the `counters` bucket (limits that must not need a full scan). */
export const COUNTER_CONFERENCES = 'conferences';
export const counterSchema = z.number().int().nonnegative();

/**
 * What a conference's roster document (RFC 4575) shows of a stored participant: kept in its roster index
 * entry, so a SUBSCRIBE's document is one read however many participants there are.
 */
export const rosterShownSchema = z.object({
  aor: z.string(),
  displayName: z.string().optional(),
  contact: z.string(),
  joinedAt: z.number(),
});
export type RosterShown = z.infer<typeof rosterShownSchema>;

/**
 * Index records (bucket `indexes`), kept with compare-and-set by the focus, so that no request lists a
 * bucket: `roster.<conferenceId>` holds a conference's legs (leg id → role, and once the participant is
 * stored what its roster shows), `directory.<n>` one of DIRECTORY_SHARDS shards of the conference ids
 * (sharded so that creations on several focus replicas rarely conflict). `at` is when the member was
 * added, so a reader can tell an entry being written from a stale one. A roster entry without `shown` is
 * a leg being set up (or one written before `shown` existed): a reader gets its participant record.
 */
export const indexRecordSchema = z.object({
  members: z.record(
    z.string(),
    z.object({ role: roleSchema.optional(), at: z.number(), shown: rosterShownSchema.optional() }),
  ),
});
export type IndexRecord = z.infer<typeof indexRecordSchema>;

/** The roster view of a participant record, as its roster index entry keeps it. */
export function rosterShownOf(p: {
  aor: string;
  displayName?: string;
  contact: string;
  joinedAt: number;
}): RosterShown {
  return {
    aor: p.aor,
    ...(p.displayName !== undefined ? { displayName: p.displayName } : {}),
    contact: p.contact,
    joinedAt: p.joinedAt,
  };
}

/** Whether two roster views show the same. */
export function sameRosterShown(a: RosterShown | undefined, b: RosterShown | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.aor === b.aor && a.displayName === b.displayName && a.contact === b.contact && a.joinedAt === b.joinedAt
  );
}

export function rosterIndexKey(conferenceId: string): string {
  return `roster.${conferenceId}`;
}

/**
 * Each shard's record holds its conference ids, so a creation reads and rewrites 1/DIRECTORY_SHARDS of
 * the directory: with 16 shards that was ~250 KB per creation at 100k topics (the focus saturated near
 * 185 creations/s), and a shard would pass NATS's 1 MiB payload limit near 400k topics. With 256, a
 * shard holds ~16 KB at 100k topics; a full directory read (only a directory SUBSCRIBE or a sweep)
 * gets 256 keys, which is small beside the two reads per conference the directory document makes.
 */
export const DIRECTORY_SHARDS = 256;
/** The shard count an index written before the directory had 256 shards used (see directoryShardKeysOf). */
const EARLIER_DIRECTORY_SHARDS = 16;

function fnv1a(text: string): number {
  // FNV-1a: any stable spread will do; every reader computes the same shard.
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function directoryShardKey(conferenceId: string): string {
  return `directory.${fnv1a(conferenceId) % DIRECTORY_SHARDS}`;
}

/**
 * Every shard a conference id may be in: where it is added now and, when different, where a 16-shard
 * version added it. The 16 earlier keys are among today's, so readers of every shard see both; a removal
 * clears both, so a conference created before an upgrade leaves no stale directory entry.
 */
export function directoryShardKeysOf(conferenceId: string): string[] {
  const h = fnv1a(conferenceId);
  const now = h % DIRECTORY_SHARDS;
  const earlier = h % EARLIER_DIRECTORY_SHARDS;
  return now === earlier ? [`directory.${now}`] : [`directory.${now}`, `directory.${earlier}`];
}

/**
 * The conference ids the directory shards (as read, in any order) list, each once and sorted: an id a
 * 16-shard version indexed may also sit in its 256-shard place.
 */
export function directoryIdsOf(shards: readonly ({ value: IndexRecord } | null | undefined)[]): string[] {
  return [...new Set(shards.flatMap((s) => (s ? Object.keys(s.value.members) : [])))].sort();
}

export function directoryShardKeys(): string[] {
  return Array.from({ length: DIRECTORY_SHARDS }, (_, i) => `directory.${i}`);
}

/**
 * The watchers of one conference (bucket `indexes`, key `watchers.<conferenceId>`), kept with
 * compare-and-set by the notifier that owns the conference while CONFERENCE_IDLE_TTL is set: its live
 * `conference` and `pubsub-data` subscriptions (subscription key → when seen), and when one last ended.
 */
export const conferenceWatchersSchema = z.object({
  members: z.record(z.string(), z.object({ at: z.number() })),
  leftAt: z.number().optional(),
});
export type ConferenceWatchers = z.infer<typeof conferenceWatchersSchema>;

export function watchersIndexKey(conferenceId: string): string {
  return `watchers.${conferenceId}`;
}

/** Participants are keyed `<conferenceId>.<legId>`; a conference's legs are listed in its roster index record. */
export function participantKey(conferenceId: string, legId: string): string {
  return `${conferenceId}.${legId}`;
}

export const policySchema = z.object({
  onExistingTopic: z.enum(['redirect', 'reject']),
  invalidData: z.enum(['drop', 'forward']),
});

export const conferenceRecordSchema = z.object({
  id: z.string(),
  topic: z.string(),
  creator: z.string(),
  created: z.number(),
  policy: policySchema,
  /** Most legs the conference admits (the focus's MAX_LEGS_PER_CONFERENCE when it was created); the roster's maximum-user-count. */
  maxUsers: z.number().int().positive().optional(),
  /** Per-role caps the conference was created with (MAX_PUBLISHERS / MAX_SUBSCRIBERS_PER_CONFERENCE); absent = none. */
  maxPublishers: z.number().int().positive().optional(),
  maxSubscribers: z.number().int().positive().optional(),
  /**
   * CONFERENCE_IDLE_TTL: when the focus last saw the conference lose a participant (or saw it go idle);
   * its idle time runs from the latest of this, `created` and its watchers' `leftAt`.
   */
  activeAt: z.number().optional(),
  /** Set while the idle sweeper decides to end the conference: joins and dial-outs get 404 meanwhile. */
  closing: z.number().optional(),
});
export type ConferenceRecord = z.infer<typeof conferenceRecordSchema>;

export const topicRecordSchema = z.object({
  conferenceId: z.string(),
  topic: z.string(),
  created: z.number(),
});
export type TopicRecord = z.infer<typeof topicRecordSchema>;

/** packages/sip's Flow as the services keep it beside a dialog: the peer, and the edge that reaches it. */
export const flowSchema = z.object({
  transport: z.enum(['udp', 'tcp', 'tls', 'ws', 'wss']),
  remoteHost: z.string(),
  remotePort: z.number(),
  connectionId: z.string().optional(),
  edgeId: z.string().optional(),
});

/** The m=text parameters a participant negotiated, as the relay leg needs them. */
export const textMediaSchema = z.object({
  t140Pt: z.number().int(),
  /** Absent when RED was not negotiated. */
  redPt: z.number().int().optional(),
  redundancy: z.number().int().nonnegative(),
  mode: z.enum(['translate', 'mix', 'aggregate']),
  aggregateWindowMs: z.number().int().nonnegative().optional(),
  rtcpMux: z.boolean(),
});
export type TextMediaRecord = z.infer<typeof textMediaSchema>;

export const participantRecordSchema = z.object({
  conferenceId: z.string(),
  legId: z.string(),
  callId: z.string(),
  /** The participant's tag (From of its INVITE) and ours (To of our answer). */
  remoteTag: z.string(),
  localTag: z.string(),
  aor: z.string(),
  displayName: z.string().optional(),
  /** The authenticated identity that created the dialog; absent when authentication was off. */
  identity: z.string().optional(),
  contact: z.string(),
  remoteSeq: z.number(),
  role: roleSchema,
  /** Direction of our answer. */
  status: directionSchema,
  relayId: z.string(),
  relayAddress: z.string(),
  media: z.object({ host: z.string(), port: z.number() }),
  remoteMedia: z.object({ host: z.string(), port: z.number() }),
  flow: flowSchema,
  joinedAt: z.number(),
  /** The focus dialled this party out (REFER, RFC 4579 §5.6): the leg id is legIdOf(Call-ID, our tag). */
  dialledOut: z.boolean().optional(),
  /** The SDP answer we gave, re-sent unchanged when a re-INVITE changes nothing. */
  answerVersion: z.number(),
  /** Negotiated text media, so a replacement leg gets the same spec (absent in records before failover). */
  textMedia: textMediaSchema.optional(),
  /** The dialog's route set (RFC 3261 §12.1.1: the INVITE's Record-Route, an edge first); absent = none. */
  routeSet: z.array(z.string()).optional(),
  /** CSeq number of the last request the focus sent in this dialog (RFC 3261 §12.2.1.1); absent = none yet. */
  localSeq: z.number().int().nonnegative().optional(),
  /**
   * RFC 4028 session timer of the dialog, absent when none was negotiated: the interval, who refreshes,
   * and when the last refresh (the INVITE, re-INVITE or UPDATE answered 2xx) was taken.
   */
  sessionTimer: z
    .object({
      seconds: z.number().int().positive(),
      refresher: z.enum(['uac', 'uas']),
      refreshedAt: z.number(),
    })
    .optional(),
});
export type ParticipantRecord = z.infer<typeof participantRecordSchema>;

/** A dialog as packages/sip's DialogState, kept as JSON. */
export const dialogStateSchema = z.object({
  callId: z.string(),
  localTag: z.string(),
  remoteTag: z.string(),
  localUri: z.string(),
  remoteUri: z.string(),
  remoteTarget: z.string(),
  routeSet: z.array(z.string()),
  localSeq: z.number(),
  remoteSeq: z.number().optional(),
  secure: z.boolean(),
});

export const subscriptionRecordSchema = z.object({
  id: z.string(),
  package: z.enum(['conference', 'pubsub-conferences', 'pubsub-data']),
  /** Conference id, or 'factory' for the directory package. */
  resourceKey: z.string(),
  resourceUri: z.string(),
  eventId: z.string().optional(),
  subscriber: z.string(),
  /** The authenticated identity that created the subscription; absent when authentication was off. */
  identity: z.string().optional(),
  status: z.enum(['pending', 'active', 'terminated']),
  expiresAt: z.number(),
  /** Version of the last document sent (RFC 4575 §4.6); 0 before the first NOTIFY. */
  version: z.number(),
  dialog: dialogStateSchema,
  flow: flowSchema,
  createdAt: z.number(),
  /** pubsub-data at the factory URI: the topic filter of the Subject header (PROFILE "Wildcard watching"). */
  filter: z.string().optional(),
  /**
   * RFC 6665 §4.5.2, several subscriptions in one dialog: the first keeps the dialog's CSeq numbers in its
   * `dialog` and lists the others in `siblings`; each other one names it in `dialogKey`. A first
   * subscription that ended while others live stays as `terminated`, carrying the dialog, until the last goes.
   */
  dialogKey: z.string().optional(),
  siblings: z.array(z.string()).optional(),
});
export type SubscriptionRecord = z.infer<typeof subscriptionRecordSchema>;

/** Subscriptions are keyed `<resourceKey>.<subscriptionId>`. */
export function subscriptionKey(resourceKey: string, subscriptionId: string): string {
  return `${resourceKey}.${subscriptionId}`;
}

// Event state of PUBLISH (RFC 3903) and retained values, all in the `publications` bucket (PROFILE.md
// "PUBLISH"): one record per entity tag, one sequence record per PUBLISH source, one retained-values record
// per topic, so every request reads them by key.

/** One publication's event state, keyed `<conferenceId>.etag.<etag>` (the tag in force). */
export const publicationRecordSchema = z.object({
  conferenceId: z.string(),
  /** Stable name of the publication: its first entity tag. */
  id: z.string(),
  etag: z.string(),
  status: z.enum(['active', 'removed']),
  expiresAt: z.number(),
  generation: z.number().int().nonnegative(),
  /** From URI of the PUBLISH, and the authenticated identity when authentication is on. */
  publisher: z.string(),
  identity: z.string().optional(),
  /** The SSRC this publisher's packs carry in the topic's media stream (stable per publisher identity). */
  ssrc: z.number().int().nonnegative(),
  /** The pack as one SenML JSON text (CBOR bodies are kept converted). */
  pack: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type PublicationRecord = z.infer<typeof publicationRecordSchema>;

export function publicationKey(conferenceId: string, etag: string): string {
  return `${conferenceId}.etag.${etag}`;
}

/** The RTP sequence state of one PUBLISH source, keyed `<conferenceId>.source.<ssrc hex>`. */
export const publicationSourceSchema = z.object({
  nextSequence: z.number().int().min(0).max(0xffff),
});
export type PublicationSource = z.infer<typeof publicationSourceSchema>;

export function publicationSourceKey(conferenceId: string, ssrc: number): string {
  return `${conferenceId}.source.${(ssrc >>> 0).toString(16).padStart(8, '0')}`;
}

/** A resolved SenML record (RFC 8428 §4.6) as retained: name, absolute time and the fields it carries. */
export const resolvedRecordSchema = z
  .object({
    n: z.string(),
    t: z.number(),
    u: z.string().optional(),
    v: z.number().optional(),
    vs: z.string().optional(),
    vb: z.boolean().optional(),
    vd: z.string().optional(),
    s: z.number().optional(),
    ut: z.number().optional(),
  })
  .strict();

/** The retained values of one topic, keyed `<conferenceId>.retained`: the latest record per resolved name. */
export const retainedValuesSchema = z.object({
  values: z.record(
    z.string(),
    z.object({
      record: resolvedRecordSchema,
      receivedAt: z.number(),
      /** RTP records: when RETAIN_TTL drops them. */
      expiresAt: z.number().optional(),
      /** PUBLISHed records: the publication (its id) whose removal or expiry drops them. */
      publication: z.string().optional(),
    }),
  ),
});
export type RetainedValues = z.infer<typeof retainedValuesSchema>;

export function retainedKey(conferenceId: string): string {
  return `${conferenceId}.retained`;
}

/**
 * The PUBLISH sources of a topic, keyed `<conferenceId>.sources`: one entry per live publication (by its
 * id), so the roster can show each as an endpoint whose `src-id` is the SSRC its packs carry.
 */
export const publicationSourcesSchema = z.object({
  sources: z.record(
    z.string(),
    z.object({
      publisher: z.string(),
      ssrc: z.number().int().nonnegative(),
      since: z.number(),
    }),
  ),
});
export type PublicationSources = z.infer<typeof publicationSourcesSchema>;

export function publicationSourcesKey(conferenceId: string): string {
  return `${conferenceId}.sources`;
}

/** The index record (bucket `indexes`) naming every unfinished referral (`<conferenceId>.<id>`). */
export const REFERRALS_INDEX_KEY = 'referrals.pending';

/** Where the NOTIFYs of a REFER's implicit subscription go (RFC 3515 §2.4.4). */
export const referNotifyTargetSchema = z.union([
  /** The dialog the REFER's 202 created (an out-of-dialog REFER). */
  z.object({ kind: z.literal('dialog'), dialog: dialogStateSchema, flow: flowSchema }),
  /** The participant dialog the REFER came in: NOTIFYs take that dialog's CSeq space. */
  z.object({ kind: z.literal('participant'), key: z.string() }),
  /**
   * The subscription dialog of an out-of-dialog REFER, kept as its own record (referDialogRecordSchema)
   * so that later REFERs in it (RFC 3515 §2.4.6) share its CSeq space.
   */
  z.object({ kind: z.literal('refer-dialog'), key: z.string() }),
]);

/**
 * The dialog an out-of-dialog REFER's 202 created (bucket `referrals`, key
 * `<conferenceId>.dialog-<hash of Call-ID and the referrer's tag>`, see referDialogKey), while at least
 * one refer subscription lives in it (RFC 6665 §4.5.2: the dialog ends with its last subscription).
 */
export const referDialogRecordSchema = z.object({
  conferenceId: z.string(),
  dialog: dialogStateSchema,
  flow: flowSchema,
  /** The highest CSeq of the referrer's requests in the dialog (§12.2.2). */
  remoteSeq: z.number(),
  /** The referrals (ids) whose subscriptions are in this dialog and not yet terminated. */
  referrals: z.array(z.string()),
});
export type ReferDialogRecord = z.infer<typeof referDialogRecordSchema>;

export function referDialogKey(conferenceId: string, dialogHash: string): string {
  return `${conferenceId}.dialog-${dialogHash}`;
}

/**
 * A referral the focus answered 202 (bucket `referrals`, key `<conferenceId>.<id>`), kept until its final
 * NOTIFY is sent, so that a replica taking the conference over finishes or reports it.
 */
export const referralRecordSchema = z.object({
  conferenceId: z.string(),
  id: z.string(),
  kind: z.enum(['dial-out', 'remove']),
  target: z.string(),
  /** The focus replica doing the work. */
  owner: z.string(),
  startedAt: z.number(),
  /** The engine's snapshot (packages/sip refer-subscription.ts). */
  refer: z.object({
    eventId: z.number(),
    subscribed: z.boolean(),
    status: z.enum(['active', 'terminated']),
    expiresAt: z.number(),
    lastStatus: z.number(),
    lastReason: z.string(),
    notifies: z.number(),
    reason: z.enum(['noresource', 'timeout', 'giveup']).optional(),
  }),
  notify: referNotifyTargetSchema.optional(),
  /** Dial-out: the INVITE sent to the target, and the relay leg its offer points to. */
  invite: z.object({ callId: z.string(), localTag: z.string(), legId: z.string() }).optional(),
  leg: z
    .object({ relayId: z.string(), relayAddress: z.string(), host: z.string(), port: z.number() })
    .optional(),
});
export type ReferralRecord = z.infer<typeof referralRecordSchema>;

/**
 * The SSRC each RTP publisher leg of a topic sends with, keyed `<conferenceId>.rtp-sources` (leg id → SSRC):
 * written by the notifier that owns the conference when the publisher's relay says the SSRC on
 * `pubsub.legs.source.<relay>`, so the roster's `<src-id>` maps CSRCs to publishers with one read per document.
 */
export const rtpSourcesSchema = z.object({
  legs: z.record(z.string(), z.number().int().min(0).max(0xffff_ffff)),
});
export type RtpSources = z.infer<typeof rtpSourcesSchema>;

export function rtpSourcesKey(conferenceId: string): string {
  return `${conferenceId}.rtp-sources`;
}
