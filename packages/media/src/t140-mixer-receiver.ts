// Receiver for a mixed T.140 stream (RFC 9071): packets of one RTP stream carry text of different
// sources, each named by its first CSRC; redundancy is per source, so a gap is filled from the next
// packet of each source, matched by timestamp instead of by sequence number.

import { parseRed, RedParseError } from './red.js';
import type { RtpPacket } from './rtp-packet.js';
import { sequenceDelta } from './sequence-number.js';
import { MISSING_TEXT_MARKER } from './t140-receiver.js';

export interface T140MixedDelivery {
  /** The contributing source (first CSRC, or the SSRC when the packet names none). */
  source: number;
  text: string;
  lost: number;
  recovered: number;
}

interface SourceState {
  lastTimestamp: number;
  decoder: InstanceType<typeof TextDecoder>;
}

export class T140MixerReceiver {
  private highest: number | undefined;
  private ssrc: number | undefined;
  private readonly sources = new Map<number, SourceState>();
  /** Packets missing in the stream whose source is not known yet. */
  private unaccounted = 0;

  constructor(private readonly opts: { t140Pt: number; redPt?: number }) {}

  receive(p: RtpPacket): T140MixedDelivery | undefined {
    if (this.ssrc !== p.ssrc) {
      this.ssrc = p.ssrc;
      this.highest = undefined;
      this.sources.clear();
    }
    if (this.highest !== undefined) {
      const delta = sequenceDelta(this.highest, p.sequenceNumber);
      if (delta <= 0) return undefined;
      this.unaccounted += delta - 1;
    }
    this.highest = p.sequenceNumber;

    let primary: Uint8Array;
    let redundant: { timestamp: number; data: Uint8Array }[] = [];
    if (p.payloadType === this.opts.redPt) {
      let red: ReturnType<typeof parseRed>;
      try {
        red = parseRed(p.payload);
      } catch (err) {
        if (err instanceof RedParseError) return undefined;
        throw err;
      }
      primary = red.primary.payloadType === this.opts.t140Pt ? red.primary.data : new Uint8Array(0);
      redundant = red.redundant.map((b) => ({
        timestamp: (p.timestamp - b.timestampOffset) >>> 0,
        data: b.payloadType === this.opts.t140Pt ? b.data : new Uint8Array(0),
      }));
    } else if (p.payloadType === this.opts.t140Pt) {
      primary = p.payload;
    } else {
      return undefined;
    }

    const source = p.csrcs[0] ?? p.ssrc;
    let state = this.sources.get(source);
    let text = '';
    let recovered = 0;
    let lost = 0;
    if (!state) {
      state = { lastTimestamp: p.timestamp, decoder: new TextDecoder('utf-8') };
      this.sources.set(source, state);
    } else if (this.unaccounted > 0) {
      // Blocks stamped after this source's last packet were sent in packets we never saw.
      const newer = redundant.filter(
        (b) => b.data.length > 0 && ((b.timestamp - state!.lastTimestamp) | 0) > 0,
      );
      if (newer.length === redundant.length && redundant.length > 0 && redundant[0].data.length > 0) {
        // Even the oldest generation is new to us: text older than it may be gone too.
        text += `${state.decoder.decode()}${MISSING_TEXT_MARKER}`;
        lost = 1;
      }
      for (const b of newer) text += state.decoder.decode(b.data, { stream: true });
      recovered = newer.length;
      this.unaccounted = Math.max(0, this.unaccounted - recovered);
    }
    state.lastTimestamp = p.timestamp;
    if (primary.length > 0) text += state.decoder.decode(primary, { stream: true });
    return { source, text, lost, recovered };
  }
}
