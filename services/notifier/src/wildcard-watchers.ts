// pubsub-data subscriptions at the factory URI with a topic filter (PROFILE.md "Wildcard watching"), held
// in a TopicFilterIndex so a record reaching a topic costs a walk of the topic's segments, not a look at
// every filter or every topic.
import { TopicFilterIndex } from '@sip-pubsub/events';
import type { SubscriptionRecord } from '@sip-pubsub/proto';
import type { ResolvedRecord } from '@sip-pubsub/senml';

export class WildcardWatchers {
  private readonly index = new TopicFilterIndex<string>();
  private readonly identities = new Map<string, string>();

  get size(): number {
    return this.index.size;
  }

  /** Indexes the subscription if it has a filter; others are ignored. */
  track(key: string, record: SubscriptionRecord): void {
    if (record.filter === undefined) return;
    this.index.add(key, record.filter);
    this.identities.set(key, record.identity ?? '');
  }

  forget(key: string): void {
    this.index.remove(key);
    this.identities.delete(key);
  }

  match(topic: string): { key: string; identity: string }[] {
    return [...this.index.match(topic)].map((key) => ({ key, identity: this.identities.get(key) ?? '' }));
  }
}

/** A record as a wildcard watcher sees it: its name prefixed with its topic (`<topic>/<name>`). */
export function inTopic(topic: string, record: ResolvedRecord): ResolvedRecord {
  return { ...record, n: `${topic}/${record.n}` };
}
