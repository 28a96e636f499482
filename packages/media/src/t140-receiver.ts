// T.140 real-time text receiver: in-order delivery, loss recovery from RED generations (RFC 4103 §4.2, §5).

import { parseRed, RedParseError } from './red.js';
import type { RtpPacket } from './rtp-packet.js';
import { sequenceDelta } from './sequence-number.js';

/** Text released by one packet; `lost` counts packets whose text could not be recovered. */
export interface T140Delivery {
  text: string;
  lost: number;
  recovered: number;
}

export interface T140ReceiverOptions {
  t140Pt: number;
  redPt?: number;
}

/** Inserted where text was lost (RFC 4103 §5.4 missing text marker). */
export const MISSING_TEXT_MARKER = '\uFFFD';

const NOTHING: T140Delivery = Object.freeze({ text: '', lost: 0, recovered: 0 });

export class T140Receiver {
  private readonly t140Pt: number;
  private readonly redPt: number | undefined;
  private ssrc: number | undefined;
  private highest = 0;
  private decoder = new TextDecoder('utf-8');

  constructor(opts: T140ReceiverOptions) {
    this.t140Pt = opts.t140Pt;
    this.redPt = opts.redPt;
  }

  /** True for a packet of the current source not newer than the highest seen: receive() ignores it. */
  isStale(p: RtpPacket): boolean {
    return this.ssrc === p.ssrc && sequenceDelta(this.highest, p.sequenceNumber) <= 0;
  }

  /**
   * Takes the next RTP packet of the source. Packets not newer than the highest sequence number seen
   * are ignored. A new SSRC restarts the stream.
   */
  receive(p: RtpPacket): T140Delivery {
    let primary: Uint8Array;
    let redundant: Uint8Array[] = [];
    if (p.payloadType === this.redPt) {
      let red: ReturnType<typeof parseRed>;
      try {
        red = parseRed(p.payload);
      } catch (err) {
        if (err instanceof RedParseError) return NOTHING;
        throw err;
      }
      // Blocks of another payload type hold no text for us but still stand for their packet.
      primary = red.primary.payloadType === this.t140Pt ? red.primary.data : new Uint8Array(0);
      redundant = red.redundant.map((b) => (b.payloadType === this.t140Pt ? b.data : new Uint8Array(0)));
    } else if (p.payloadType === this.t140Pt) {
      primary = p.payload;
    } else {
      return NOTHING;
    }

    let text = '';
    let lost = 0;
    let recovered = 0;
    if (this.ssrc !== p.ssrc) {
      this.ssrc = p.ssrc;
      this.decoder = new TextDecoder('utf-8');
      // Without the marker bit, packets before this one went missing: take what redundancy holds.
      if (!p.marker) {
        for (const block of redundant) {
          if (block.length === 0) continue;
          text += this.decode(block);
          recovered += 1;
        }
      }
    } else {
      const delta = sequenceDelta(this.highest, p.sequenceNumber);
      if (delta <= 0) return NOTHING;
      const missing = delta - 1;
      const fillable = Math.min(missing, redundant.length);
      if (missing > fillable) {
        lost = missing - fillable;
        text += `${this.decoder.decode()}${MISSING_TEXT_MARKER}`;
      }
      // Redundant block i (oldest first) belongs to sequence number seq − (R − i).
      for (let i = redundant.length - fillable; i < redundant.length; i++) {
        text += this.decode(redundant[i]);
        recovered += 1;
      }
    }
    this.highest = p.sequenceNumber;
    text += this.decode(primary);
    return text === '' && lost === 0 && recovered === 0 ? NOTHING : { text, lost, recovered };
  }

  private decode(bytes: Uint8Array): string {
    return bytes.length === 0 ? '' : this.decoder.decode(bytes, { stream: true });
  }
}
