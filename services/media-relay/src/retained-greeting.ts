// Late joiners get the topic's retained values first (PROFILE.md "PUBLISH"): before a new subscriber leg
// takes live data, the relay sends it one SenML pack (one line) from the relay's own SSRC with the latest
// record per name. The pack is the retained values read from KV, overlaid with every record this relay
// saw in the topic's stream while that read was in flight; the leg joins the core in the same turn as
// the pack is sent, so a record is either in the pack or delivered live, never both and never neither.
import {
  LineAssembler,
  parseRtp,
  serializeRtp,
  type T140PayloadTypes,
  T140Receiver,
  T140Sender,
} from '@sip-pubsub/media';
import type { JsonBucket } from '@sip-pubsub/platform';
import { type RetainedValues, retainedKey } from '@sip-pubsub/proto';
import {
  formatPackLine,
  parseSenmlJson,
  type ResolvedRecord,
  resolvePack,
  SenmlError,
  type SenmlPack,
} from '@sip-pubsub/senml';
import type { Leg } from './relay.js';

interface Watch {
  /** Greetings of this conference in flight. */
  pending: number;
  sources: Map<string, { receiver: T140Receiver; lines: LineAssembler }>;
  /** Records seen in the stream since the first pending greeting started, latest per name. */
  seen: Map<string, ResolvedRecord>;
}

export interface RetainedGreeterOptions {
  retained: JsonBucket<RetainedValues>;
  maxPackBytes: number;
  /** Hands the greeting to the leg: the relay core sends it once the peer consents (README "Media consent"). */
  deliver: (leg: Leg, packets: Uint8Array[]) => void;
  now?: () => number;
  onError?: (conferenceId: string, err: Error) => void;
}

export class RetainedGreeter {
  private readonly watches = new Map<string, Watch>();
  private readonly now: () => number;

  constructor(private readonly opts: RetainedGreeterOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Every packet of the conference's stream this relay handles (local publishers and shared ones). */
  observe(conferenceId: string, sourceLegId: string, data: Uint8Array, pts: T140PayloadTypes): void {
    const watch = this.watches.get(conferenceId);
    if (!watch) return;
    try {
      this.decode(watch, sourceLegId, data, pts);
    } catch (err) {
      // Observing is best effort: it must never cost the packet its delivery.
      this.opts.onError?.(conferenceId, err as Error);
    }
  }

  private decode(watch: Watch, sourceLegId: string, data: Uint8Array, pts: T140PayloadTypes): void {
    let packet: ReturnType<typeof parseRtp>;
    try {
      packet = parseRtp(data);
    } catch {
      return;
    }
    let source = watch.sources.get(sourceLegId);
    if (!source) {
      source = { receiver: new T140Receiver(pts), lines: new LineAssembler() };
      watch.sources.set(sourceLegId, source);
    }
    const text = source.receiver.receive(packet).text;
    if (text.length === 0) return;
    for (const line of source.lines.push(text).lines) {
      try {
        const pack = parseSenmlJson(line, { maxPackBytes: this.opts.maxPackBytes });
        for (const r of resolvePack(pack, Math.floor(this.now() / 1000))) {
          watch.seen.delete(r.n);
          watch.seen.set(r.n, r);
        }
      } catch (err) {
        if (!(err instanceof SenmlError)) throw err;
      }
    }
  }

  /**
   * Sends `leg` the retained values, then calls `join` (which adds the leg to the core) in the same turn.
   * A leg that does not subscribe joins at once. KV trouble costs the greeting, never the leg.
   */
  async greet(leg: Leg, join: () => void): Promise<number> {
    const { conferenceId } = leg.options;
    if (!leg.options.subscribes) {
      join();
      return 0;
    }
    let watch = this.watches.get(conferenceId);
    if (!watch) {
      watch = { pending: 0, sources: new Map(), seen: new Map() };
      this.watches.set(conferenceId, watch);
    }
    watch.pending++;
    let stored: ResolvedRecord[] = [];
    try {
      const entry = await this.opts.retained.get(retainedKey(conferenceId));
      const now = this.now();
      if (entry)
        stored = Object.values(entry.value.values)
          .filter((v) => v.expiresAt === undefined || v.expiresAt > now)
          .sort((a, b) => a.receivedAt - b.receivedAt)
          .map((v) => v.record);
    } catch (err) {
      this.opts.onError?.(conferenceId, err as Error);
    }
    const latest = new Map<string, ResolvedRecord>();
    for (const r of [...stored, ...watch.seen.values()]) {
      latest.delete(r.n);
      latest.set(r.n, r);
    }
    if (--watch.pending === 0) this.watches.delete(conferenceId);
    // From here to join() nothing awaits: no packet can fall between the pack and live delivery.
    const records = [...latest.values()];
    if (records.length > 0) this.opts.deliver(leg, greetingPackets(leg, records, this.now()));
    join();
    return records.length;
  }
}

/** The retained records as one line from the relay's SSRC on the leg, in the leg's payload types. */
export function greetingPackets(leg: Leg, records: ResolvedRecord[], now: number): Uint8Array[] {
  // A resolved record is itself a SenML record (RFC 8428 §4.6: resolved form), so the list is a pack.
  const line = formatPackLine(records as unknown as SenmlPack);
  const redPt = leg.options.redPt || undefined;
  if (leg.transmitter) {
    // Mix and aggregate legs already have a stream from the relay's SSRC: the pack goes in it, as the relay.
    leg.transmitter.write(line, 0);
    return leg.transmitter.poll(now).map((p) => serializeRtp(p));
  }
  const generations = redPt === undefined ? 0 : (leg.options.redundancy ?? 2);
  const sender = new T140Sender({ ssrc: leg.ssrc, t140Pt: leg.options.t140Pt, redPt, generations });
  const packets = sender.send(line, now);
  // The redundancy that would follow the text: sent at once, since this stream carries nothing after it.
  for (let i = 0; i < generations; i++) packets.push(...sender.drain(now + i + 1));
  return packets.map((p) => serializeRtp(p));
}
