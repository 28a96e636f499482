// CONFERENCE_IDLE_TTL, the notifier's half: for each conference this replica owns, the watchers record
// (proto `watchersIndexKey`) lists its live `conference` and `pubsub-data` subscriptions and says when one
// last ended, so the focus's idle sweep can tell a watched conference from an idle one without listing
// the subscriptions bucket. Kept from the subscriptions bucket's KV watch (off the request path) and
// reconciled by a listing when this replica takes conferences over (start-up, membership change).
import type { JsonBucket, Logger } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  type ConferenceWatchers,
  type SubscriptionRecord,
  watchersIndexKey,
} from '@sip-pubsub/proto';
import { ownershipKey, WILDCARD_RESOURCE_KEY } from './data-package.js';
import { DIRECTORY_KEY } from './notifier.js';

/** The conference a subscription key (`<resourceKey>.<id>`) watches; undefined for the directory and wildcards. */
export function watchedConferenceOf(subscriptionKey: string): string | undefined {
  const dot = subscriptionKey.indexOf('.');
  if (dot <= 0) return undefined;
  const resource = subscriptionKey.slice(0, dot);
  if (resource === DIRECTORY_KEY || resource === WILDCARD_RESOURCE_KEY) return undefined;
  return ownershipKey(resource);
}

function watches(record: SubscriptionRecord): boolean {
  return (
    (record.package === 'conference' || record.package === 'pubsub-data') && record.status !== 'terminated'
  );
}

export interface WatcherIndexOptions {
  watchers: JsonBucket<ConferenceWatchers>;
  conferences: JsonBucket<ConferenceRecord>;
  logger: Logger;
  now?: () => number;
}

export class ConferenceWatcherIndex {
  private readonly now: () => number;
  /** Subscription keys this replica knows to be in their conference's record (spares a read per NOTIFY). */
  private readonly listed = new Set<string>();
  /** Writes to one conference's record, in the order their events came. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly opts: WatcherIndexOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** A write to the subscriptions bucket (from its KV watch); only the conference's owner acts on it. */
  observe(key: string, record: SubscriptionRecord | null, owns: (conferenceId: string) => boolean): void {
    const conferenceId = watchedConferenceOf(key);
    if (conferenceId === undefined || !owns(conferenceId)) return;
    if (record && watches(record)) {
      if (!this.listed.has(key)) void this.add(conferenceId, key);
    } else void this.remove(conferenceId, key);
  }

  /** Resolves once every write queued so far is done (tests). */
  async settled(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  private serial(conferenceId: string, work: () => Promise<void>): Promise<void> {
    const previous = this.chains.get(conferenceId) ?? Promise.resolve();
    const next = previous
      .then(work)
      .catch((err: Error) =>
        this.opts.logger.warn({ conferenceId, err: err.message }, 'watchers record not updated'),
      );
    this.chains.set(conferenceId, next);
    void next.then(() => {
      if (this.chains.get(conferenceId) === next) this.chains.delete(conferenceId);
    });
    return next;
  }

  add(conferenceId: string, key: string): Promise<void> {
    this.listed.add(key);
    return this.serial(conferenceId, async () => {
      const at = this.now();
      try {
        await this.opts.watchers.mutate(watchersIndexKey(conferenceId), (current) => {
          if (current?.members[key]) return undefined;
          return { ...current, members: { ...current?.members, [key]: { at } } };
        });
      } catch (err) {
        this.listed.delete(key); // tried again by the next write of the subscription or a reconcile
        throw err;
      }
    });
  }

  remove(conferenceId: string, key: string): Promise<void> {
    this.listed.delete(key);
    return this.serial(conferenceId, async () => {
      const at = this.now();
      const recordKey = watchersIndexKey(conferenceId);
      const left = await this.opts.watchers.mutate(recordKey, (current) => {
        if (!current || !(key in current.members)) return undefined;
        const { [key]: _gone, ...members } = current.members;
        return { members, leftAt: at };
      });
      // The last watcher of a conference that was ended meanwhile: nothing is left to judge.
      if (left && Object.keys(left.members).length === 0 && !(await this.opts.conferences.get(conferenceId)))
        await this.opts.watchers.delete(recordKey);
    });
  }

  /** The conference was ended (directory `deleted`): its record goes. */
  conferenceEnded(conferenceId: string): Promise<void> {
    return this.serial(conferenceId, () => this.opts.watchers.delete(watchersIndexKey(conferenceId)));
  }

  /**
   * Puts every live watcher of the conferences this replica owns in their records: those written while
   * no replica owned them, or before CONFERENCE_IDLE_TTL was set. Lists the subscriptions bucket, so it
   * runs only when ownership changes (like adopting subscriptions), never on a request path.
   */
  async reconcile(
    subscriptions: JsonBucket<SubscriptionRecord>,
    owns: (conferenceId: string) => boolean,
  ): Promise<number> {
    let added = 0;
    for (const key of await subscriptions.keys()) {
      const conferenceId = watchedConferenceOf(key);
      if (conferenceId === undefined) continue;
      if (!owns(conferenceId)) {
        this.listed.delete(key);
        continue;
      }
      if (this.listed.has(key)) continue;
      const entry = await subscriptions.get(key).catch(() => null);
      if (!entry || !watches(entry.value)) continue;
      await this.add(conferenceId, key);
      added++;
    }
    return added;
  }
}
