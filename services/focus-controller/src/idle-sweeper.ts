// CONFERENCE_IDLE_TTL on one focus replica: a periodic sweep (never a request path) over the conferences
// this replica owns, found through the directory shard index records, that ends each one idle past its
// deadline exactly as an explicit end does (Focus.terminateConference). What it judges by lives in KV:
// the roster index (participants), the notifier's watchers record, the pending-referrals index, and the
// conference record's `activeAt` (bumped here when a participant leaves) and `closing` (see end()).
import type { JsonBucket, KvBucket, Logger } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  type ConferenceWatchers,
  directoryIdsOf,
  directoryShardKeys,
  type IndexRecord,
  REFERRALS_INDEX_KEY,
  rosterIndexKey,
  type SubscriptionRecord,
  watchersIndexKey,
} from '@sip-pubsub/proto';
import { IdleDeadlines, type IdleObservation, type IdleVerdict } from './idle-deadline.js';

/** A `closing` mark older than this was left by a sweep that died; younger ones belong to a sweep at work. */
export const STALE_CLOSING_MS = 10_000;

/** Owned conferences looked at in parallel. */
const SWEEP_CONCURRENCY = 16;

export interface IdleSweeperOptions {
  ttlMs: number;
  stores: {
    conferences: JsonBucket<ConferenceRecord>;
    /** Roster, directory shard and referral index records. */
    indexes: JsonBucket<IndexRecord>;
    /** The same `indexes` bucket, read as the notifier's watchers records. */
    watchers: JsonBucket<ConferenceWatchers>;
    subscriptions: JsonBucket<SubscriptionRecord>;
  };
  owns(conferenceId: string): boolean;
  /** Ends the conference as an explicit end does (Focus.terminateConference); true when this call did. */
  terminate(conferenceId: string, reason: string): Promise<boolean>;
  logger: Logger;
  now?: () => number;
}

export interface SweepSummary {
  owned: number;
  idle: number;
  ended: number;
}

export class IdleSweeper {
  private readonly now: () => number;
  private readonly deadlines: IdleDeadlines;
  /** Conferences whose `activeAt` is being written, and whether another leave came meanwhile. */
  private readonly bumping = new Map<string, { again: boolean; done?: Promise<void> }>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;

  constructor(private readonly opts: IdleSweeperOptions) {
    this.now = opts.now ?? Date.now;
    this.deadlines = new IdleDeadlines(opts.ttlMs);
  }

  /**
   * For the join and dial-out paths, after the new leg took its place in the roster index: false when
   * the conference is gone or a sweep is ending it (the caller gives the place back and answers 404).
   * Either the sweep's second look sees the leg, or this read sees its mark: never a leg in an ended one.
   */
  async admits(conferenceId: string): Promise<boolean> {
    const conference = await this.opts.stores.conferences.get(conferenceId);
    return conference !== null && conference.value.closing === undefined;
  }

  /** A participant record of a conference we own was deleted (by whatever path): its idle time restarts. */
  participantLeft(conferenceId: string): void {
    const running = this.bumping.get(conferenceId);
    if (running) {
      running.again = true;
      return;
    }
    const state: { again: boolean; done?: Promise<void> } = { again: false };
    this.bumping.set(conferenceId, state);
    state.done = (async () => {
      do {
        state.again = false;
        await this.stampActive(conferenceId, this.now());
      } while (state.again);
    })()
      .catch((err: Error) =>
        this.opts.logger.warn({ conferenceId, err: err.message }, 'idle expiry: activity not recorded'),
      )
      .finally(() => this.bumping.delete(conferenceId));
  }

  /** Resolves once the activity stamps asked for so far are written (tests). */
  async settled(): Promise<void> {
    while (this.bumping.size > 0) await Promise.all([...this.bumping.values()].map((b) => b.done));
  }

  private async stampActive(conferenceId: string, at: number): Promise<void> {
    await this.opts.stores.conferences.mutate(conferenceId, (current) =>
      current && (current.activeAt ?? 0) < at ? { ...current, activeAt: at } : undefined,
    );
  }

  /** Sweeps every `intervalMs` until stop(); one sweep at a time. */
  start(intervalMs: number): this {
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = this.sweep()
        .catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'idle sweep failed'))
        .finally(() => {
          this.sweeping = undefined;
        });
    }, intervalMs);
    this.timer.unref();
    return this;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
  }

  /** One pass over the owned conferences: ends those idle past their deadline. */
  async sweep(): Promise<SweepSummary> {
    const summary: SweepSummary = { owned: 0, idle: 0, ended: 0 };
    if (!this.deadlines.enabled) return summary;
    const { indexes } = this.opts.stores;
    const shards = await Promise.all(directoryShardKeys().map((key) => indexes.get(key)));
    const owned = directoryIdsOf(shards).filter((id) => this.opts.owns(id));
    summary.owned = owned.length;
    const referring = await this.referringConferences();
    for (let i = 0; i < owned.length; i += SWEEP_CONCURRENCY) {
      await Promise.all(
        owned.slice(i, i + SWEEP_CONCURRENCY).map(async (id) => {
          try {
            const outcome = await this.visit(id, referring);
            if (outcome !== 'in-use') summary.idle++;
            if (outcome === 'ended') summary.ended++;
          } catch (err) {
            this.opts.logger.warn({ conferenceId: id, err: (err as Error).message }, 'idle check failed');
          }
        }),
      );
    }
    this.deadlines.retain(new Set(owned));
    return summary;
  }

  /** Conference ids with an unfinished referral (keys `<conferenceId>.<id>` of the pending index). */
  private async referringConferences(): Promise<Set<string>> {
    const pending = await this.opts.stores.indexes.get(REFERRALS_INDEX_KEY);
    return new Set(Object.keys(pending?.value.members ?? {}).map((key) => key.slice(0, key.indexOf('.'))));
  }

  private async observe(
    id: string,
    referring: ReadonlySet<string>,
  ): Promise<{ conference: ConferenceRecord; seen: IdleObservation } | null> {
    const { conferences, indexes, watchers } = this.opts.stores;
    const [conference, roster, watching] = await Promise.all([
      conferences.get(id),
      indexes.get(rosterIndexKey(id)),
      watchers.get(watchersIndexKey(id)),
    ]);
    if (!conference) return null;
    const participants = Object.keys(roster?.value.members ?? {}).length;
    const referrals = referring.has(id) ? 1 : 0;
    const members = watching?.value.members ?? {};
    // Only an otherwise idle conference needs its watchers confirmed (one read each, newest first).
    const watcherCount =
      participants > 0 || referrals > 0 ? Object.keys(members).length : await this.liveWatchers(members);
    const seen: IdleObservation = {
      createdAt: conference.value.created,
      participants,
      watchers: watcherCount,
      referrals,
    };
    if (conference.value.activeAt !== undefined) seen.activeAt = conference.value.activeAt;
    if (watching?.value.leftAt !== undefined) seen.watchersLeftAt = watching.value.leftAt;
    return { conference: conference.value, seen };
  }

  /** 1 when some member is a live subscription (a member whose record went is left over, not a watcher). */
  private async liveWatchers(members: ConferenceWatchers['members']): Promise<number> {
    const now = this.now();
    const newestFirst = Object.entries(members).sort((a, b) => b[1].at - a[1].at);
    for (const [key] of newestFirst) {
      const entry = await this.opts.stores.subscriptions.get(key).catch(() => null);
      if (entry && entry.value.status !== 'terminated' && entry.value.expiresAt > now) return 1;
    }
    return 0;
  }

  private async visit(id: string, referring: ReadonlySet<string>): Promise<IdleVerdict['kind'] | 'ended'> {
    const observed = await this.observe(id, referring);
    if (!observed) {
      this.deadlines.forget(id);
      return 'in-use';
    }
    const now = this.now();
    const { closing } = observed.conference;
    // A sweep (here or on the replica that owned it a moment ago) is ending it: leave it to that one.
    if (closing !== undefined && now - closing < STALE_CLOSING_MS) return 'idle';
    const verdict = this.deadlines.assess(id, observed.seen, now);
    if ((verdict.kind === 'idle' || verdict.kind === 'expired') && verdict.stamp !== undefined)
      await this.stampActive(id, verdict.stamp);
    if (verdict.kind === 'expired') return (await this.end(id, referring)) ? 'ended' : 'idle';
    // A mark left by a sweep that died is lifted once the conference is found in use or not yet due.
    if (closing !== undefined) await this.unmark(id, closing);
    return verdict.kind;
  }

  /**
   * Ends an expired conference in two steps, so that a join or dial-out racing with us is either refused
   * (404) or keeps the conference, never left in an ended one: (1) mark the record `closing` (joins and
   * dial-outs check it after taking their place in the roster index, see admits()); (2) look again at
   * participants, watchers and referrals; end it only if still idle past the deadline, else lift the mark.
   */
  private async end(id: string, referring: ReadonlySet<string>): Promise<boolean> {
    const mark = this.now();
    const marked = await this.opts.stores.conferences.mutate(id, (current) => {
      if (!current) return undefined;
      if (current.closing !== undefined && mark - current.closing < STALE_CLOSING_MS) return undefined;
      return { ...current, closing: mark };
    });
    if (marked?.closing !== mark) return false;
    const again = await this.observe(id, new Set([...referring, ...(await this.referringConferences())]));
    if (!again) return false;
    const verdict = this.deadlines.assess(id, again.seen, this.now());
    if (verdict.kind !== 'expired') {
      await this.unmark(id, mark);
      return false;
    }
    const idleMs = this.now() - verdict.since;
    const ended = await this.opts.terminate(
      id,
      `idle for ${Math.round(idleMs / 1000)} s (CONFERENCE_IDLE_TTL)`,
    );
    this.deadlines.forget(id);
    await this.opts.stores.watchers.delete(watchersIndexKey(id)).catch(() => undefined);
    if (ended)
      this.opts.logger.info(
        { conferenceId: id, idleMs, ttlMs: this.opts.ttlMs },
        'conference ended: idle past CONFERENCE_IDLE_TTL',
      );
    return ended;
  }

  private async unmark(id: string, mark: number): Promise<void> {
    await this.opts.stores.conferences.mutate(id, (current) => {
      if (!current || current.closing !== mark) return undefined;
      const { closing: _closing, ...rest } = current;
      return rest;
    });
  }
}
