// Received RFC 9071 mixed stream → SenML packs. In `mix` mode the relay sends one RTP stream with its own
// SSRC and sequence numbers; each packet carries one publisher's text, named by its first CSRC, with
// redundancy per publisher (PROFILE "Media"). One T140MixerReceiver for the stream, one LineAssembler per
// publisher. An engine: packets in, events out, no sockets.
import { LineAssembler, type RtpPacket, T140MixerReceiver } from '@sip-pubsub/media';
import { parseSenmlJson, type SenmlLimits } from '@sip-pubsub/senml';
import type { PublicationEvent } from './publication-assembler.js';

export interface MixedPublicationAssemblerOptions {
  t140Pt: number;
  redPt?: number;
  /** Publishers tracked at once; the least recently heard is forgotten beyond this. Default 256. */
  maxSources?: number;
  senmlLimits?: SenmlLimits;
}

export class MixedPublicationAssembler {
  private receiver: T140MixerReceiver;
  private readonly lines = new Map<number, LineAssembler>();
  private readonly maxSources: number;

  constructor(private opts: MixedPublicationAssemblerOptions) {
    this.maxSources = opts.maxSources ?? 256;
    this.receiver = new T140MixerReceiver({ t140Pt: opts.t140Pt, redPt: opts.redPt });
  }

  /** New payload types after a re-INVITE; the stream and every publisher's line start again. */
  setPayloadTypes(t140Pt: number, redPt: number | undefined): void {
    if (t140Pt === this.opts.t140Pt && redPt === this.opts.redPt) return;
    this.opts = { ...this.opts, t140Pt, redPt };
    this.receiver = new T140MixerReceiver({ t140Pt, redPt });
    this.lines.clear();
  }

  receive(packet: RtpPacket): PublicationEvent[] {
    const pt = packet.payloadType;
    // RFC 6263 keep-alives use a payload type nobody negotiated: not text.
    if (pt !== this.opts.t140Pt && pt !== this.opts.redPt) return [];
    const delivery = this.receiver.receive(packet);
    if (!delivery) return [];
    const { source } = delivery;
    const events: PublicationEvent[] = [];
    let damaged = 0;
    if (delivery.text.length > 0) {
      const { lines, damaged: d } = this.linesOf(source).push(delivery.text);
      damaged = d;
      for (const line of lines) events.push(this.decode(line, source, packet.ssrc));
    }
    if (delivery.lost > 0 || damaged > 0)
      events.unshift({ kind: 'loss', ssrc: source, lost: delivery.lost, damagedLines: damaged });
    return events;
  }

  private decode(line: string, ssrc: number, mixerSsrc: number): PublicationEvent {
    try {
      return { kind: 'pack', pack: parseSenmlJson(line, this.opts.senmlLimits), ssrc, line, mixerSsrc };
    } catch (err) {
      return { kind: 'invalid', line, error: err instanceof Error ? err : new Error(String(err)), ssrc };
    }
  }

  private linesOf(source: number): LineAssembler {
    let lines = this.lines.get(source);
    if (lines) this.lines.delete(source);
    else {
      lines = new LineAssembler();
      if (this.lines.size >= this.maxSources) {
        const oldest = this.lines.keys().next().value;
        if (oldest !== undefined) this.lines.delete(oldest);
      }
    }
    // Map order is insertion order: the front is the least recently heard.
    this.lines.set(source, lines);
    return lines;
  }
}
