// T.140 real-time text receiver: in-order delivery, loss recovery from RED generations (RFC 4103 §4.2, §5).

import { RedLayout, walkRed } from './red-layout.js';
import { sequenceDelta } from './sequence-number.js';

/** Text released by one packet; `lost` counts packets whose text could not be recovered. */
export interface T140Delivery {
  text: string;
  lost: number;
  recovered: number;
}

/** What the receiver reads of a packet: an RtpPacket, or an RtpView over the received buffer. */
export interface T140PacketInput {
  payloadType: number;
  payload: Uint8Array;
  ssrc: number;
  marker: boolean;
  sequenceNumber: number;
}

export interface T140ReceiverOptions {
  t140Pt: number;
  redPt?: number;
}

/** Inserted where text was lost (RFC 4103 §5.4 missing text marker). */
export const MISSING_TEXT_MARKER = '\uFFFD';

const EMPTY = new Uint8Array(0);
const NOTHING: T140Delivery = Object.freeze({ text: '', lost: 0, recovered: 0 });

export class T140Receiver {
  private readonly t140Pt: number;
  private readonly redPt: number | undefined;
  private ssrc: number | undefined;
  private highest = 0;
  private decoder = new TextDecoder('utf-8');
  private readonly red = new RedLayout();

  constructor(opts: T140ReceiverOptions) {
    this.t140Pt = opts.t140Pt;
    this.redPt = opts.redPt;
  }

  /** True for a packet of the current source not newer than the highest seen: receive() ignores it. */
  isStale(p: { ssrc: number; sequenceNumber: number }): boolean {
    return this.ssrc === p.ssrc && sequenceDelta(this.highest, p.sequenceNumber) <= 0;
  }

  /**
   * Takes the next RTP packet of the source. Packets not newer than the highest sequence number seen
   * are ignored. A new SSRC restarts the stream.
   */
  receive(p: T140PacketInput): T140Delivery {
    const payload = p.payload;
    const red = this.red;
    // Redundant blocks (oldest first) and the primary, as offsets into the payload; a plain T.140 packet
    // is its own primary. Blocks of another payload type hold no text for us but still stand for their packet.
    let redundantCount = 0;
    let primaryStart = 0;
    const primaryEnd = payload.length;
    if (p.payloadType === this.redPt) {
      if (walkRed(payload, 0, payload.length, red) !== 0) return NOTHING;
      redundantCount = red.count;
      if (red.primaryPayloadType === this.t140Pt) primaryStart = red.primaryStart;
      else primaryStart = primaryEnd;
    } else if (p.payloadType !== this.t140Pt) {
      return NOTHING;
    }
    const block = (i: number) =>
      red.payloadTypes[i] === this.t140Pt ? payload.subarray(red.starts[i], red.ends[i]) : EMPTY;

    let text = '';
    let lost = 0;
    let recovered = 0;
    if (this.ssrc !== p.ssrc) {
      this.ssrc = p.ssrc;
      this.decoder = new TextDecoder('utf-8');
      // Without the marker bit, packets before this one went missing: take what redundancy holds.
      if (!p.marker) {
        for (let i = 0; i < redundantCount; i++) {
          const b = block(i);
          if (b.length === 0) continue;
          text += this.decode(b);
          recovered += 1;
        }
      }
    } else {
      const delta = sequenceDelta(this.highest, p.sequenceNumber);
      if (delta <= 0) return NOTHING;
      const missing = delta - 1;
      const fillable = Math.min(missing, redundantCount);
      if (missing > fillable) {
        lost = missing - fillable;
        text += `${this.decoder.decode()}${MISSING_TEXT_MARKER}`;
      }
      // Redundant block i (oldest first) belongs to sequence number seq − (R − i).
      for (let i = redundantCount - fillable; i < redundantCount; i++) {
        text += this.decode(block(i));
        recovered += 1;
      }
    }
    this.highest = p.sequenceNumber;
    text += this.decode(payload.subarray(primaryStart, primaryEnd));
    return text === '' && lost === 0 && recovered === 0 ? NOTHING : { text, lost, recovered };
  }

  private decode(bytes: Uint8Array): string {
    return bytes.length === 0 ? '' : this.decoder.decode(bytes, { stream: true });
  }
}
