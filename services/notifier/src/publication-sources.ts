// PUBLISH sources as the roster shows them (PROFILE.md "Events": `<src-id>` maps an SSRC to its publisher):
// each live publication is an endpoint of its publisher's user, with the SSRC its packs carry, kept in one
// KV record per topic so building a roster reads it by key (writes batched per topic).
import type { ConferenceUser } from '@sip-pubsub/events';
import type { JsonBucket } from '@sip-pubsub/platform';
import { type PublicationSources, publicationSourcesKey } from '@sip-pubsub/proto';
import { BatchedMutations } from './batched-mutations.js';

type SourceChange =
  | { kind: 'add'; publication: string; publisher: string; ssrc: number; since: number }
  | { kind: 'remove'; publication: string };

export class PublicationSourcesStore {
  private readonly writes: BatchedMutations<PublicationSources, SourceChange>;

  constructor(private readonly bucket: JsonBucket<PublicationSources>) {
    this.writes = new BatchedMutations(bucket, (current, changes) => {
      const sources = new Map(Object.entries(current?.sources ?? {}));
      for (const c of changes)
        if (c.kind === 'add')
          sources.set(c.publication, { publisher: c.publisher, ssrc: c.ssrc, since: c.since });
        else sources.delete(c.publication);
      if (sources.size === 0) return current ? null : undefined;
      return { sources: Object.fromEntries(sources) };
    });
  }

  add(
    conferenceId: string,
    publication: string,
    publisher: string,
    ssrc: number,
    since: number,
  ): Promise<void> {
    return this.writes.submit(publicationSourcesKey(conferenceId), {
      kind: 'add',
      publication,
      publisher,
      ssrc,
      since,
    });
  }

  remove(conferenceId: string, publication: string): Promise<void> {
    return this.writes.submit(publicationSourcesKey(conferenceId), { kind: 'remove', publication });
  }

  /** How many publications of the topic are live. */
  async count(conferenceId: string): Promise<number> {
    const entry = await this.bucket.get(publicationSourcesKey(conferenceId));
    return entry ? Object.keys(entry.value.sources).length : 0;
  }

  /** The topic's PUBLISH sources as roster users: one per publisher, an endpoint per publication. */
  async users(conferenceId: string): Promise<ConferenceUser[]> {
    const entry = await this.bucket.get(publicationSourcesKey(conferenceId));
    if (!entry) return [];
    const users = new Map<string, ConferenceUser>();
    const sorted = Object.entries(entry.value.sources).sort(
      (a, b) => a[1].since - b[1].since || a[0].localeCompare(b[0]),
    );
    for (const [publication, source] of sorted) {
      let user = users.get(source.publisher);
      if (!user) {
        user = { entity: source.publisher, state: 'full', role: 'publisher', endpoints: [] };
        users.set(source.publisher, user);
      }
      user.endpoints.push({
        entity: `${source.publisher};publication=${publication}`,
        status: 'connected',
        // The publisher reached the topic with PUBLISH, not a dialog: RFC 4575 §5.7.3 has no method for that.
        media: [{ id: `publish-${publication}`, type: 'text', srcId: source.ssrc, status: 'sendonly' }],
      });
    }
    return [...users.values()];
  }
}
