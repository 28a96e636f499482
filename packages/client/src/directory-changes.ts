// What changed between two views of the topic directory, for the `topics` command.
import type { DirectoryInfo } from '@sip-pubsub/events';

export interface DirectoryChange {
  change: 'added' | 'removed' | 'counts';
  topic: string;
  conference: string;
  publishers?: number;
  subscribers?: number;
}

export function directoryChanges(before: DirectoryInfo | undefined, after: DirectoryInfo): DirectoryChange[] {
  const old = new Map(
    (before?.conferences ?? []).filter((c) => c.state !== 'deleted').map((c) => [c.entity, c]),
  );
  const out: DirectoryChange[] = [];
  const live = after.conferences.filter((c) => c.state !== 'deleted');
  for (const c of [...live].sort((a, b) => a.topic.localeCompare(b.topic))) {
    const was = old.get(c.entity);
    old.delete(c.entity);
    const counts = { publishers: c.publisherCount, subscribers: c.subscriberCount };
    if (!was) out.push({ change: 'added', topic: c.topic, conference: c.entity, ...counts });
    else if (was.publisherCount !== c.publisherCount || was.subscriberCount !== c.subscriberCount)
      out.push({ change: 'counts', topic: c.topic, conference: c.entity, ...counts });
  }
  for (const gone of old.values())
    out.push({ change: 'removed', topic: gone.topic, conference: gone.entity });
  return out;
}

/** `plant-7/boiler/temp  sip:conf-…@localhost  1 publisher, 2 subscribers`; with a +/-/~ mark when watching. */
export function formatDirectoryChange(c: DirectoryChange, listing: boolean): string {
  const plural = (n: number | undefined, word: string) => `${n ?? 0} ${word}${n === 1 ? '' : 's'}`;
  const counts =
    c.change === 'removed'
      ? ''
      : `  ${plural(c.publishers, 'publisher')}, ${plural(c.subscribers, 'subscriber')}`;
  const mark = listing ? '' : c.change === 'added' ? '+ ' : c.change === 'removed' ? '- ' : '~ ';
  return `${mark}${c.topic}  ${c.conference}${counts}`;
}
