// Reading the m=text line of an SDP body: payload types, redundancy, direction, address (PROFILE "Media").

import { isIP } from 'node:net';
import { type MediaDescription, parse, parsePayloads, type SessionDescription } from 'sdp-transform';
import { type Direction, isDirection } from './direction.js';
import { SdpNegotiationError } from './sdp-negotiation-error.js';

export const RTT_MIXER_ATTRIBUTE = 'rtt-mixer'; // RFC 9071 §2.3
export const SENML_AGGREGATE_ATTRIBUTE = 'senml-aggregate';
export const AGGREGATE_WINDOW_MIN_MS = 20;
export const AGGREGATE_WINDOW_MAX_MS = 5000;
/** More generations than this add bytes, not robustness; offers asking for more are answered with this. */
export const MAX_REDUNDANCY = 5;
const SUPPORTED_PROTOCOLS = new Set(['RTP/AVP', 'RTP/AVPF']);

/** What an m=text line says, whether we read it or write it. */
export interface TextMediaParameters {
  port: number;
  t140Pt: number;
  redPt?: number;
  /** Redundant generations (0 without RED). */
  redundancy: number;
  direction: Direction;
  rtcpMux: boolean;
  mixer: boolean;
  /** Window of a=senml-aggregate as written, not clamped. */
  aggregateWindowMs?: number;
}

export interface TextMedia extends TextMediaParameters {
  index: number;
  media: MediaDescription;
  address: string;
}

/** Parses an SDP body, throwing 400 when it is not a session description at all. */
export function parseSdp(sdp: string): SessionDescription {
  if (typeof sdp !== 'string' || !/^v=0[ \t]*\r?$/.test(sdp.split('\n', 1)[0] ?? '')) {
    throw new SdpNegotiationError(400, 'SDP does not start with v=0');
  }
  let session: SessionDescription;
  try {
    session = parse(sdp);
  } catch {
    throw new SdpNegotiationError(400, 'SDP cannot be parsed');
  }
  if (!session.origin) throw new SdpNegotiationError(400, 'SDP has no o= line');
  for (const m of session.media ?? []) {
    if (typeof m.type !== 'string' || !Number.isInteger(m.port) || m.port < 0 || m.port > 65535) {
      throw new SdpNegotiationError(400, 'SDP has a malformed m= line');
    }
  }
  return session;
}

/**
 * Finds the first usable m=text line (non-zero port, RTP/AVP or RTP/AVPF) and reads it.
 * Throws 488 when there is none or it offers no t140 payload type.
 */
export function readTextMedia(session: SessionDescription): TextMedia {
  const media = session.media ?? [];
  const textLines = media.map((m, index) => ({ m, index })).filter(({ m }) => m.type === 'text');
  if (textLines.length === 0) throw new SdpNegotiationError(488, 'no m=text media line');
  const usable = textLines.find(({ m }) => m.port !== 0 && SUPPORTED_PROTOCOLS.has(m.protocol));
  if (!usable) {
    const allRejected = textLines.every(({ m }) => m.port === 0);
    throw new SdpNegotiationError(
      488,
      allRejected ? 'm=text media line has port 0' : 'm=text transport is not RTP/AVP',
      allRejected ? 304 : 305,
    );
  }
  const { m, index } = usable;

  let formats: number[];
  try {
    formats = parsePayloads(String(m.payloads ?? '')).filter(
      (pt) => Number.isInteger(pt) && pt >= 0 && pt <= 127,
    );
  } catch {
    formats = [];
  }
  // sdp-transform turns numeric-looking fields into numbers (`a=rtpmap:97 123/1000` has codec 123).
  const codecOf = (pt: number): string | undefined => {
    const codec = (m.rtp ?? []).find((r) => r.payload === pt)?.codec;
    return codec === undefined || codec === null ? undefined : String(codec).toLowerCase();
  };
  const t140Pt = formats.find((pt) => codecOf(pt) === 't140');
  if (t140Pt === undefined) {
    throw new SdpNegotiationError(488, 'no t140 or red payload type offered on m=text', 305);
  }

  let redPt: number | undefined;
  let redundancy = 0;
  for (const pt of formats) {
    if (codecOf(pt) !== 'red') continue;
    const fmtp = (m.fmtp ?? []).find((f) => f.payload === pt);
    // RFC 4103 §6: the red fmtp lists the T.140 payload type once per generation, primary included.
    const generations = fmtp ? String(fmtp.config).trim().split('/') : undefined;
    if (generations && !generations.every((g) => g.trim() === String(t140Pt))) continue;
    redPt = pt;
    redundancy = Math.min(generations ? generations.length - 1 : 2, MAX_REDUNDANCY);
    break;
  }

  const rawAddress = m.connection?.ip ?? session.connection?.ip;
  if (rawAddress === undefined || rawAddress === null || rawAddress === '')
    throw new SdpNegotiationError(400, 'no c= connection address for m=text');
  // We send media to it without resolving names: only an IPv4 or IPv6 literal is usable.
  const address = String(rawAddress);
  if (isIP(address) === 0)
    throw new SdpNegotiationError(
      488,
      `c= connection address ${JSON.stringify(address.slice(0, 64))} is not an IP address`,
      399,
    );

  const direction = isDirection(m.direction)
    ? m.direction
    : isDirection(session.direction)
      ? session.direction
      : 'sendrecv';
  const attributes = (m.invalid ?? []).map((a) => String(a.value).trim());
  let aggregateWindowMs: number | undefined;
  for (const a of attributes) {
    const match = /^senml-aggregate:\s*(\d{1,9})$/.exec(a);
    if (match) {
      aggregateWindowMs = Number(match[1]);
      break;
    }
  }

  const result: TextMedia = {
    index,
    media: m,
    address,
    port: m.port,
    t140Pt,
    redundancy,
    direction,
    rtcpMux: m.rtcpMux === 'rtcp-mux',
    mixer: attributes.includes(RTT_MIXER_ATTRIBUTE),
  };
  if (redPt !== undefined) result.redPt = redPt;
  if (aggregateWindowMs !== undefined) result.aggregateWindowMs = aggregateWindowMs;
  return result;
}

export function clampAggregateWindow(ms: number): number {
  return Math.min(AGGREGATE_WINDOW_MAX_MS, Math.max(AGGREGATE_WINDOW_MIN_MS, Math.round(ms)));
}

export function ipVersionOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

/** The m=text description we send in offers and answers. */
export function describeTextMedia(opts: TextMediaParameters & { protocol?: string }): MediaDescription {
  const red = opts.redPt;
  const m: MediaDescription = {
    type: 'text',
    port: opts.port,
    protocol: opts.protocol ?? 'RTP/AVP',
    payloads: red === undefined ? `${opts.t140Pt}` : `${red} ${opts.t140Pt}`,
    rtp: [
      ...(red === undefined ? [] : [{ payload: red, codec: 'red', rate: 1000 }]),
      { payload: opts.t140Pt, codec: 't140', rate: 1000 },
    ],
    fmtp:
      red === undefined
        ? []
        : [
            {
              payload: red,
              config: Array.from({ length: opts.redundancy + 1 }, () => opts.t140Pt).join('/'),
            },
          ],
    direction: opts.direction,
  };
  if (opts.rtcpMux) m.rtcpMux = 'rtcp-mux';
  const extra: { value: string }[] = [];
  if (opts.mixer) extra.push({ value: RTT_MIXER_ATTRIBUTE });
  if (opts.aggregateWindowMs !== undefined) {
    extra.push({ value: `${SENML_AGGREGATE_ATTRIBUTE}:${opts.aggregateWindowMs}` });
  }
  if (extra.length > 0) m.invalid = extra;
  return m;
}

/** Session-level lines shared by our offers and answers (RFC 8866 §5). */
export function describeSession(opts: {
  address: string;
  sessionId?: string;
  /** RFC 3264 §8: each new offer or answer in a session raises it. Default 1. */
  sessionVersion?: number;
  username?: string;
  media: MediaDescription[];
}): SessionDescription {
  const ipVer = ipVersionOf(opts.address);
  return {
    version: 0,
    origin: {
      username: opts.username ?? '-',
      sessionId: opts.sessionId ?? randomSessionId(),
      sessionVersion: opts.sessionVersion ?? 1,
      netType: 'IN',
      ipVer,
      address: opts.address,
    },
    name: '-',
    connection: { version: ipVer, ip: opts.address },
    timing: { start: 0, stop: 0 },
    media: opts.media,
  };
}

function randomSessionId(): string {
  // NTP-style numeric id (RFC 8866 §5.2); 15 digits stay within a safe integer.
  return String(Math.floor(Math.random() * 9e14) + 1e14);
}
