// SDP offer/answer for the m=text stream of a topic (RFC 3264 §5, §6; PROFILE "Roles from SDP" and "Media").

import { type MediaDescription, write } from 'sdp-transform';
import { answerDirectionFor, type Direction, type Role, roleFromOfferDirection } from './direction.js';
import { SdpNegotiationError } from './sdp-negotiation-error.js';
import {
  clampAggregateWindow,
  describeSession,
  describeTextMedia,
  parseSdp,
  readTextMedia,
  type TextMedia,
} from './text-media.js';

export type ForwardingMode = 'translate' | 'mix' | 'aggregate';

/** The offerer's m=text parameters (`redundancy`: the generations it uses) and what we make of them. */
export interface TextOfferSummary
  extends Pick<TextMedia, 'address' | 'port' | 't140Pt' | 'redPt' | 'redundancy' | 'direction' | 'rtcpMux'> {
  role: Role;
  mode: ForwardingMode;
  /** Window applied in aggregate mode, already clamped to 20–5000 ms. */
  aggregateWindowMs?: number;
}

/** Reads an offer from a participant. Throws SdpNegotiationError (400 or 488). */
export function negotiateTextOffer(offerSdp: string): TextOfferSummary {
  const text = readTextMedia(parseSdp(offerSdp));
  const summary: TextOfferSummary = {
    address: text.address,
    port: text.port,
    t140Pt: text.t140Pt,
    redundancy: text.redundancy,
    direction: text.direction,
    role: roleFromOfferDirection(text.direction),
    mode: 'translate',
    rtcpMux: text.rtcpMux,
  };
  if (text.redPt !== undefined) summary.redPt = text.redPt;
  // Aggregation is the more specific request, so it wins when both are offered.
  if (text.aggregateWindowMs !== undefined) {
    summary.mode = 'aggregate';
    summary.aggregateWindowMs = clampAggregateWindow(text.aggregateWindowMs);
  } else if (text.mixer) {
    summary.mode = 'mix';
  }
  return summary;
}

export interface TextAnswerLocal {
  address: string;
  port: number;
  sessionId?: string;
  /** The o= version; keep sessionId and raise this for each later answer in the same session (RFC 3264 §8). */
  sessionVersion?: number;
  username?: string;
  /** Overrides the direction derived from the offer, e.g. to refuse publishing with 'inactive'. */
  direction?: Direction;
}

/**
 * Builds the answer: same m-lines in the same order as the offer (RFC 3264 §6), the text line
 * accepted with the offerer's payload type numbers, every other line rejected with port 0.
 */
export function buildTextAnswer(offerSdp: string, summary: TextOfferSummary, local: TextAnswerLocal): string {
  const offer = parseSdp(offerSdp);
  const text = readTextMedia(offer);
  const media: MediaDescription[] = (offer.media ?? []).map((m, index) => {
    if (index !== text.index) return rejectedMedia(m);
    return describeTextMedia({
      port: local.port,
      protocol: m.protocol,
      t140Pt: summary.t140Pt,
      redPt: summary.redPt,
      redundancy: summary.redundancy,
      direction: local.direction ?? answerDirectionFor(summary.direction),
      rtcpMux: summary.rtcpMux,
      mixer: summary.mode === 'mix',
      aggregateWindowMs: summary.mode === 'aggregate' ? summary.aggregateWindowMs : undefined,
    });
  });
  return write(
    describeSession({
      address: local.address,
      sessionId: local.sessionId,
      sessionVersion: local.sessionVersion,
      username: local.username,
      media,
    }),
  );
}

function rejectedMedia(m: MediaDescription): MediaDescription {
  const formats = String(m.payloads ?? '').trim();
  // A rejected stream keeps its type, transport and at least one format (RFC 3264 §6).
  return {
    type: m.type,
    port: 0,
    protocol: m.protocol,
    payloads: formats === '' ? '0' : formats,
    rtp: [],
    fmtp: [],
  };
}

export interface TextOfferOptions {
  address: string;
  port: number;
  direction: Direction;
  t140Pt?: number;
  redPt?: number;
  redundancy?: number;
  /** false offers plain T.140 without RED. Default true. */
  red?: boolean;
  mixer?: boolean;
  aggregateWindowMs?: number;
  rtcpMux?: boolean;
  sessionId?: string;
  /** The o= version; keep sessionId and raise this for each later offer in the same session (RFC 3264 §8). */
  sessionVersion?: number;
  username?: string;
}

/** An offer for one m=text stream, as a client or the focus dialing out sends it. */
export function createTextOffer(opts: TextOfferOptions): string {
  const media = describeTextMedia({
    port: opts.port,
    t140Pt: opts.t140Pt ?? 98,
    redPt: opts.red === false ? undefined : (opts.redPt ?? 100),
    redundancy: opts.redundancy ?? 2,
    direction: opts.direction,
    rtcpMux: opts.rtcpMux ?? false,
    mixer: opts.mixer ?? false,
    aggregateWindowMs: opts.aggregateWindowMs,
  });
  return write(
    describeSession({
      address: opts.address,
      sessionId: opts.sessionId,
      sessionVersion: opts.sessionVersion,
      username: opts.username,
      media: [media],
    }),
  );
}

/** The answerer's m=text parameters, as written. */
export type TextAnswerSummary = Pick<
  TextMedia,
  'address' | 'port' | 't140Pt' | 'redPt' | 'direction' | 'aggregateWindowMs'
> & {
  /** The answerer mixes (RFC 9071 §2.3: a=rtt-mixer in the answer). */
  mixer?: boolean;
};

/** Reads the answer to our offer. Throws SdpNegotiationError, e.g. when the text stream was rejected. */
export function parseTextAnswer(answerSdp: string): TextAnswerSummary {
  const session = parseSdp(answerSdp);
  const textLines = (session.media ?? []).filter((m) => m.type === 'text');
  if (textLines.length > 0 && textLines.every((m) => m.port === 0)) {
    throw new SdpNegotiationError(488, 'm=text media line rejected with port 0');
  }
  const text = readTextMedia(session);
  const answer: TextAnswerSummary = {
    address: text.address,
    port: text.port,
    t140Pt: text.t140Pt,
    direction: text.direction,
  };
  if (text.redPt !== undefined) answer.redPt = text.redPt;
  if (text.aggregateWindowMs !== undefined) answer.aggregateWindowMs = text.aggregateWindowMs;
  if (text.mixer) answer.mixer = true;
  return answer;
}

/** SDP body for OPTIONS responses: the text media we can handle (RFC 3264 §9, PROFILE "Creating and joining"). */
export function buildSessionDescription(opts: { address: string; port: number }): string {
  return createTextOffer({ address: opts.address, port: opts.port, direction: 'sendrecv', rtcpMux: true });
}
