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
} as const;

/** Counters kept with compare-and-set in the `counters` bucket (limits that must not need a full scan). */
export const COUNTER_CONFERENCES = 'conferences';
export const counterSchema = z.number().int().nonnegative();

/** Participants are keyed `<conferenceId>.<legId>` so a conference's roster is one prefix scan. */
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
});
export type ConferenceRecord = z.infer<typeof conferenceRecordSchema>;

export const topicRecordSchema = z.object({
  conferenceId: z.string(),
  topic: z.string(),
  created: z.number(),
});
export type TopicRecord = z.infer<typeof topicRecordSchema>;

export const flowSchema = z.object({
  transport: z.string(),
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
});
export type SubscriptionRecord = z.infer<typeof subscriptionRecordSchema>;

/** Subscriptions are keyed `<resourceKey>.<subscriptionId>`. */
export function subscriptionKey(resourceKey: string, subscriptionId: string): string {
  return `${resourceKey}.${subscriptionId}`;
}
