// Every topic and its conference, in memory on each notifier replica: loaded once at start-up and kept
// current from `pubsub.directory` events, so a wildcard watcher's first NOTIFY can find the topics its
// filter covers without a request listing a bucket.
import { parseTopicPattern, topicMatches } from '@sip-pubsub/events';
import type { JsonBucket } from '@sip-pubsub/platform';
import type { ConferenceRecord, DirectoryEvent } from '@sip-pubsub/proto';

const LOAD_CONCURRENCY = 64;

export class TopicDirectory {
  private readonly topics = new Map<string, string>();

  /**
   * Start-up: reads every conference once, LOAD_CONCURRENCY reads in flight (one at a time, 100k topics
   * held a replica's start for tens of seconds).
   */
  async load(conferences: JsonBucket<ConferenceRecord>): Promise<number> {
    const ids = await conferences.keys();
    let next = 0;
    const reader = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        const entry = await conferences.get(id).catch(() => null);
        if (entry) this.topics.set(id, entry.value.topic);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, ids.length) }, reader));
    return this.topics.size;
  }

  apply(event: Pick<DirectoryEvent, 'type' | 'conferenceId' | 'topic'>): void {
    if (event.type === 'deleted') this.topics.delete(event.conferenceId);
    else this.topics.set(event.conferenceId, event.topic);
  }

  remember(conferenceId: string, topic: string): void {
    this.topics.set(conferenceId, topic);
  }

  topicOf(conferenceId: string): string | undefined {
    return this.topics.get(conferenceId);
  }

  /** The conferences whose topic `filter` covers (once per wildcard SUBSCRIBE, not per record). */
  matching(filter: string): { conferenceId: string; topic: string }[] {
    const pattern = parseTopicPattern(filter);
    const out: { conferenceId: string; topic: string }[] = [];
    for (const [conferenceId, topic] of this.topics)
      if (topicMatches(pattern, topic)) out.push({ conferenceId, topic });
    return out.sort((a, b) => a.topic.localeCompare(b.topic));
  }
}
