// The SSRC each RTP publisher sends with, for the roster's `<src-id>` (PROFILE.md "Events"). The relay that
// receives a publisher's packets says the SSRC once per leg (and again if it changes) on
// `pubsub.legs.source.<relay>`; the notifier that owns the conference writes a new or changed one to one
// KV record per topic (batched) and re-notifies its user, so building a roster reads the record once.
import type { JsonBucket } from '@sip-pubsub/platform';
import { type RtpSources, rtpSourcesKey } from '@sip-pubsub/proto';
import { BatchedMutations } from './batched-mutations.js';

type SourceChange = { kind: 'set'; legId: string; ssrc: number } | { kind: 'remove'; legId: string };

export class RtpSourcesStore {
  private readonly writes: BatchedMutations<RtpSources, SourceChange>;
  /** `<conferenceId> <legId>` → the SSRC last stored, for the legs this replica has seen. */
  private readonly known = new Map<string, number>();

  constructor(private readonly bucket: JsonBucket<RtpSources>) {
    this.writes = new BatchedMutations(bucket, (current, changes) => {
      const legs = new Map(Object.entries(current?.legs ?? {}));
      let changed = false;
      for (const c of changes) {
        if (c.kind === 'set' && legs.get(c.legId) !== c.ssrc) {
          legs.set(c.legId, c.ssrc);
          changed = true;
        } else if (c.kind === 'remove') changed = legs.delete(c.legId) || changed;
      }
      // A subscriber leaving (no entry) writes nothing.
      if (!changed) return undefined;
      if (legs.size === 0) return null;
      return { legs: Object.fromEntries(legs) };
    });
  }

  /**
   * A packet from publisher leg `legId`: true when its SSRC is new for the leg (then it is being stored and
   * the roster should show it). `stored` settles when the write is done.
   */
  observe(
    conferenceId: string,
    legId: string,
    ssrc: number,
  ): { changed: false } | { changed: true; stored: Promise<void> } {
    const id = `${conferenceId} ${legId}`;
    if (this.known.get(id) === ssrc) return { changed: false };
    this.known.set(id, ssrc);
    const stored = this.writes
      .submit(rtpSourcesKey(conferenceId), { kind: 'set', legId, ssrc })
      .catch((err: Error) => {
        // Not remembered, so the next packet tries again.
        if (this.known.get(id) === ssrc) this.known.delete(id);
        throw err;
      });
    return { changed: true, stored };
  }

  /** The leg left the conference: its SSRC is no longer a source of the topic. */
  async remove(conferenceId: string, legId: string): Promise<void> {
    this.known.delete(`${conferenceId} ${legId}`);
    await this.writes.submit(rtpSourcesKey(conferenceId), { kind: 'remove', legId });
  }

  /** leg id → SSRC of the topic's RTP publishers (one read). */
  async of(conferenceId: string): Promise<ReadonlyMap<string, number>> {
    const entry = await this.bucket.get(rtpSourcesKey(conferenceId));
    return new Map(Object.entries(entry?.value.legs ?? {}));
  }
}
