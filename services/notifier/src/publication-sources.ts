// PUBLISH sources as the roster shows them (PROFILE.md "Events": `<src-id>` maps an SSRC to its publisher):
// each live publication is an endpoint of its publisher's user, with the SSRC its packs carry, kept in one
// KV record per topic so building a roster reads it by key.
import type { ConferenceUser } from '@sip-pubsub/events';
import type { JsonBucket } from '@sip-pubsub/platform';
import { type PublicationSources, publicationSourcesKey } from '@sip-pubsub/proto';

export class PublicationSourcesStore {
  constructor(private readonly bucket: JsonBucket<PublicationSources>) {}

  async add(
    conferenceId: string,
    publication: string,
    publisher: string,
    ssrc: number,
    since: number,
  ): Promise<void> {
    await this.bucket.mutate(publicationSourcesKey(conferenceId), (current) => ({
      sources: { ...(current?.sources ?? {}), [publication]: { publisher, ssrc, since } },
    }));
  }

  /** Forgets a publication; resolves with its publisher, if it was listed. */
  async remove(conferenceId: string, publication: string): Promise<string | undefined> {
    let publisher: string | undefined;
    await this.bucket.mutate(publicationSourcesKey(conferenceId), (current) => {
      publisher = current?.sources[publication]?.publisher;
      if (!current || publisher === undefined) return undefined;
      const { [publication]: _gone, ...rest } = current.sources;
      return Object.keys(rest).length === 0 ? null : { sources: rest };
    });
    return publisher;
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
