// Events the services exchange over NATS subjects (DESIGN.md "Events"). Like the .proto file, these
// schemas are the contract: producers build values of these types, consumers parse with them.
import { z } from 'zod';

export const subjects = {
  roster: (conferenceId: string) => `pubsub.roster.${conferenceId}`,
  rosterAll: 'pubsub.roster.*',
  directory: 'pubsub.directory',
  media: (conferenceId: string) => `pubsub.media.${conferenceId}`,
  mediaAll: 'pubsub.media.*',
  members: (service: string) => `pubsub.members.${service}`,
  load: (relayId: string) => `pubsub.load.${relayId}`,
  legClosed: (relayId: string) => `pubsub.legs.closed.${relayId}`,
  legClosedAll: 'pubsub.legs.closed.*',
  /** The SSRC a publisher leg started sending with, once per leg and SSRC (roster `<src-id>`). */
  legSource: (relayId: string) => `pubsub.legs.source.${relayId}`,
  legSourceAll: 'pubsub.legs.source.*',
  /** Relays hosting legs of a conference say so here, so each knows whether another reads its stream. */
  mediaHosts: (conferenceId: string) => `pubsub.media-hosts.${conferenceId}`,
  /** Readers of every conference's stream (notifiers) say so here while they read it. */
  mediaReaders: 'pubsub.media-readers',
} as const;

export const roleSchema = z.enum(['publisher', 'subscriber', 'both', 'inactive']);
export type ParticipantRole = z.infer<typeof roleSchema>;

export const directionSchema = z.enum(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

/** What the roster of a conference shows of one participant. */
export const rosterParticipantSchema = z.object({
  legId: z.string(),
  aor: z.string(),
  displayName: z.string().optional(),
  role: roleSchema,
  /** Media direction from the focus's point of view (the answer's direction). */
  status: directionSchema,
  ssrc: z.number().int().nonnegative().optional(),
  joinedAt: z.number(),
});
export type RosterParticipant = z.infer<typeof rosterParticipantSchema>;

export const rosterEventSchema = z.object({
  type: z.enum(['joined', 'changed', 'left']),
  conferenceId: z.string(),
  participant: rosterParticipantSchema,
  at: z.number(),
  /** `left` because the chair removed it (REFER method=BYE, RFC 4579 §5.11): its watches end `deactivated`. */
  removed: z.boolean().optional(),
});
export type RosterEvent = z.infer<typeof rosterEventSchema>;

export const directoryEventSchema = z.object({
  type: z.enum(['created', 'changed', 'deleted']),
  conferenceId: z.string(),
  topic: z.string(),
  at: z.number(),
});
export type DirectoryEvent = z.infer<typeof directoryEventSchema>;

/** Headers on `pubsub.media.<conf>` messages; the body is the RTP packet exactly as the publisher sent it. */
export const MEDIA_HEADER_RELAY = 'relay';
export const MEDIA_HEADER_LEG = 'leg';
/** The publisher leg's payload type numbers, so other relays can map them to their subscribers' numbers. */
export const MEDIA_HEADER_T140_PT = 't140-pt';
export const MEDIA_HEADER_RED_PT = 'red-pt';
/** Milliseconds since the epoch when the first relay received the packet, for publish→deliver latency. */
export const MEDIA_HEADER_RECEIVED_AT = 'received-at';
/** MEDIA_HEADER_RELAY of packs a notifier put in the stream for a PUBLISH: `publish:<notifier id>`. */
export const MEDIA_PUBLISH_ORIGIN_PREFIX = 'publish:';

/** What a relay reports on `pubsub.load.<relayId>` every few seconds (DESIGN.md "Media sharding"). */
export const relayLoadSchema = z.object({
  relayId: z.string(),
  at: z.number(),
  /** Report period in ms; a report older than three periods is stale. */
  intervalMs: z.number().int().positive(),
  legs: z.number().int().nonnegative(),
  conferences: z.array(
    z.object({
      conferenceId: z.string(),
      legs: z.number().int().nonnegative(),
      publisherLegs: z.number().int().nonnegative(),
      subscriberLegs: z.number().int().nonnegative(),
      /** Packets in plus out per second on this relay. */
      packetsPerSecond: z.number().nonnegative(),
    }),
  ),
});
export type RelayLoad = z.infer<typeof relayLoadSchema>;

/**
 * What a relay announces on `pubsub.legs.closed.<relayId>` when it closes a leg on its own (the leg
 * stayed silent past its timeout, or never proved the negotiated address answers): the focus that owns
 * the conference ends the participant's dialog (BYE), removes its record and announces `left`.
 */
export const legClosedSchema = z.object({
  relayId: z.string(),
  conferenceId: z.string(),
  legId: z.string(),
  reason: z.enum(['silent', 'no-consent']),
  at: z.number(),
});
export type LegClosed = z.infer<typeof legClosedSchema>;

/**
 * What a relay says on `pubsub.legs.source.<relayId>` when a publisher leg's packets first arrive with an
 * SSRC (and again if it changes): the notifier owning the conference keeps it for the roster's `<src-id>`.
 */
export const legSourceSchema = z.object({
  relayId: z.string(),
  conferenceId: z.string(),
  legId: z.string(),
  ssrc: z.number().int().min(0).max(0xffff_ffff),
  at: z.number(),
});
export type LegSource = z.infer<typeof legSourceSchema>;

/**
 * On `pubsub.media-hosts.<conf>`: a relay opened (`hosting`) or closed the conference. An opening one
 * `asks`, and every other relay hosting it answers, so both sides know the stream has another reader.
 */
export const mediaHostSchema = z.object({
  relayId: z.string(),
  hosting: z.boolean(),
  ask: z.boolean().optional(),
});
export type MediaHost = z.infer<typeof mediaHostSchema>;

/**
 * On `pubsub.media-readers`: a process that reads every conference's stream (`reading`, repeated every
 * few seconds, expiring after three missed periods) or stopped; a starting relay `asks` who reads.
 */
export const mediaReaderSchema = z.object({
  readerId: z.string(),
  reading: z.boolean(),
  ask: z.boolean().optional(),
});
export type MediaReader = z.infer<typeof mediaReaderSchema>;
/** How often a reader repeats itself on `pubsub.media-readers`; it expires after three periods. */
export const MEDIA_READER_INTERVAL_MS = 2_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEvent<T>(schema: z.ZodType<T>, value: T): Uint8Array {
  return encoder.encode(JSON.stringify(schema.parse(value)));
}

/** Parses an event body; returns an error message instead of throwing so a bad peer cannot crash a consumer. */
export function decodeEvent<T>(
  schema: z.ZodType<T>,
  data: Uint8Array,
): { ok: true; value: T } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  const result = schema.safeParse(json);
  if (!result.success)
    return {
      ok: false,
      error: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    };
  return { ok: true, value: result.data };
}
