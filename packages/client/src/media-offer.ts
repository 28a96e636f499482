// The SDP offer a publisher or subscriber sends: one m=text stream, T.140 with RED, and the direction
// that gives the focus our role (PROFILE "Roles from SDP": sendonly = publisher, recvonly = subscriber).
import { createTextOffer, type Direction } from '@sip-pubsub/media';

export type ParticipantKind = 'publisher' | 'subscriber';

export const T140_PAYLOAD_TYPE = 98;
export const RED_PAYLOAD_TYPE = 100;
/** Redundant generations per packet (PROFILE "Media": primary plus two). */
export const DEFAULT_REDUNDANCY = 2;

export function directionFor(kind: ParticipantKind): Direction {
  return kind === 'publisher' ? 'sendonly' : 'recvonly';
}

export function buildMediaOffer(
  kind: ParticipantKind,
  local: { address: string; port: number },
  opts: { redundancy?: number; sessionId?: string; username?: string; mixer?: boolean } = {},
): string {
  const redundancy = opts.redundancy ?? DEFAULT_REDUNDANCY;
  if (!Number.isInteger(redundancy) || redundancy < 0 || redundancy > 5) {
    throw new RangeError(
      `redundancy ${redundancy}: expected an integer 0-5 (0 offers plain T.140 without RED)`,
    );
  }
  return createTextOffer({
    address: local.address,
    port: local.port,
    direction: directionFor(kind),
    t140Pt: T140_PAYLOAD_TYPE,
    redPt: RED_PAYLOAD_TYPE,
    red: redundancy > 0,
    redundancy: Math.max(redundancy, 1),
    sessionId: opts.sessionId,
    username: opts.username,
    // RFC 9071 §2.3: a subscriber that can take one mixed stream says so.
    mixer: opts.mixer ?? false,
  });
}
