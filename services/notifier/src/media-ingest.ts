// Reading the topic's media stream (`pubsub.media.<conf>`) as the notifier needs it: per source, T.140 text
// reassembled into lines (PROFILE "Media") and each valid SenML pack resolved into records, for retained
// values and pubsub-data watchers. Sources idle for a while are forgotten.
import { LineAssembler, parseRtp, type T140PayloadTypes, T140Receiver } from '@sip-pubsub/media';
import { parseSenmlJson, type ResolvedRecord, resolvePack, SenmlError } from '@sip-pubsub/senml';

interface Source {
  receiver: T140Receiver;
  lines: LineAssembler;
  lastAt: number;
}

export class MediaIngest {
  private readonly sources = new Map<string, Source>();

  constructor(private readonly opts: { maxPackBytes: number }) {}

  /** One shared packet of `sourceLegId`; returns the records of the packs it completed. */
  onPacket(
    conferenceId: string,
    sourceLegId: string,
    data: Uint8Array,
    pts: T140PayloadTypes,
    now: number,
  ): ResolvedRecord[] {
    let packet: ReturnType<typeof parseRtp>;
    try {
      packet = parseRtp(data);
    } catch {
      return [];
    }
    const key = `${conferenceId}\n${sourceLegId}`;
    let source = this.sources.get(key);
    if (!source) {
      source = { receiver: new T140Receiver(pts), lines: new LineAssembler(), lastAt: now };
      this.sources.set(key, source);
    }
    source.lastAt = now;
    const delivery = source.receiver.receive(packet);
    if (delivery.text.length === 0) return [];
    const records: ResolvedRecord[] = [];
    for (const line of source.lines.push(delivery.text).lines) {
      try {
        records.push(
          ...resolvePack(
            parseSenmlJson(line, { maxPackBytes: this.opts.maxPackBytes }),
            Math.floor(now / 1000),
          ),
        );
      } catch (err) {
        if (!(err instanceof SenmlError)) throw err;
      }
    }
    return records;
  }

  /** Forgets sources that sent nothing since `before`. */
  prune(before: number): void {
    for (const [key, source] of this.sources) if (source.lastAt < before) this.sources.delete(key);
  }
}
