// Received RTP → SenML packs. One T140Receiver and LineAssembler per SSRC, because in translate mode
// the relay forwards each publisher's packets with its own SSRC and sequence numbers (PROFILE "Media").
// An engine: packets in, events out, no sockets.
import { LineAssembler, type RtpPacket, T140Receiver } from '@sip-pubsub/media';
import { parseSenmlJson, type SenmlLimits, type SenmlPack } from '@sip-pubsub/senml';

export type PublicationEvent =
  /** mixerSsrc: the relay's stream SSRC when the stream is mixed (RFC 9071); ssrc then names the publisher (CSRC). */
  | { kind: 'pack'; pack: SenmlPack; ssrc: number; line: string; mixerSsrc?: number }
  | { kind: 'invalid'; line: string; error: Error; ssrc: number }
  | { kind: 'loss'; ssrc: number; lost: number; damagedLines: number };

interface SourceState {
  receiver: T140Receiver;
  lines: LineAssembler;
}

export interface PublicationAssemblerOptions {
  t140Pt: number;
  redPt?: number;
  /** Sources tracked at once; the least recently heard is forgotten beyond this. Default 256. */
  maxSources?: number;
  senmlLimits?: SenmlLimits;
}

export class PublicationAssembler {
  private readonly sources = new Map<number, SourceState>();
  private readonly maxSources: number;

  constructor(private opts: PublicationAssemblerOptions) {
    this.maxSources = opts.maxSources ?? 256;
  }

  /** New payload types after a re-INVITE; the stream state of every source starts again. */
  setPayloadTypes(t140Pt: number, redPt: number | undefined): void {
    if (t140Pt === this.opts.t140Pt && redPt === this.opts.redPt) return;
    this.opts = { ...this.opts, t140Pt, redPt };
    this.sources.clear();
  }

  receive(packet: RtpPacket): PublicationEvent[] {
    const pt = packet.payloadType;
    // RFC 6263 keep-alives use a payload type nobody negotiated: not text.
    if (pt !== this.opts.t140Pt && pt !== this.opts.redPt) return [];
    const source = this.source(packet.ssrc);
    const delivery = source.receiver.receive(packet);
    const events: PublicationEvent[] = [];
    let damaged = 0;
    if (delivery.text.length > 0) {
      const { lines, damaged: d } = source.lines.push(delivery.text);
      damaged = d;
      for (const line of lines) events.push(this.decode(line, packet.ssrc));
    }
    if (delivery.lost > 0 || damaged > 0) {
      // Reported first: the damage happened before the lines that follow it.
      events.unshift({ kind: 'loss', ssrc: packet.ssrc, lost: delivery.lost, damagedLines: damaged });
    }
    return events;
  }

  private decode(line: string, ssrc: number): PublicationEvent {
    try {
      return { kind: 'pack', pack: parseSenmlJson(line, this.opts.senmlLimits), ssrc, line };
    } catch (err) {
      return { kind: 'invalid', line, error: err instanceof Error ? err : new Error(String(err)), ssrc };
    }
  }

  private source(ssrc: number): SourceState {
    let state = this.sources.get(ssrc);
    if (state) {
      // Map order is insertion order: move to the back so the front is the least recently heard.
      this.sources.delete(ssrc);
    } else {
      state = {
        receiver: new T140Receiver({ t140Pt: this.opts.t140Pt, redPt: this.opts.redPt }),
        lines: new LineAssembler(),
      };
      if (this.sources.size >= this.maxSources) {
        const oldest = this.sources.keys().next().value;
        if (oldest !== undefined) this.sources.delete(oldest);
      }
    }
    this.sources.set(ssrc, state);
    return state;
  }
}
