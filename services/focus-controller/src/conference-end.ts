// Ending a whole conference (issue 8 "Conference lifecycle"; here for REFER with Refer-To the conference
// URI and method=BYE): every participant gets BYE and loses its leg, the roster hears `left`, the
// directory `deleted` (the notifier then ends every watch of the conference with reason=noresource), and
// the topic is free for a new conference. A minimal version: h-join's lifecycle work may replace it.
import { conferenceUri } from '@sip-pubsub/events';
import type { Bus, JsonBucket, Logger } from '@sip-pubsub/platform';
import { kvKey } from '@sip-pubsub/platform';
import {
  COUNTER_CONFERENCES,
  type ConferenceRecord,
  directoryEventSchema,
  directoryShardKey,
  encodeEvent,
  type IndexRecord,
  type ParticipantRecord,
  participantKey,
  rosterEventSchema,
  rosterIndexKey,
  subjects,
  type TopicRecord,
} from '@sip-pubsub/proto';
import { createInDialogRequest } from '@sip-pubsub/sip';
import { dialogOf, type ParticipantRequestSender } from './failover.js';
import { rosterView } from './focus.js';
import { IndexWriter } from './indexes.js';
import type { RelayDirectory } from './relays.js';

export interface ConferenceEndOptions {
  domain: string;
  stores: {
    conferences: JsonBucket<ConferenceRecord>;
    topics: JsonBucket<TopicRecord>;
    participants: JsonBucket<ParticipantRecord>;
    counters: JsonBucket<number>;
    indexes: JsonBucket<IndexRecord>;
  };
  relays: RelayDirectory;
  send: ParticipantRequestSender;
  bus: Bus;
  logger: Logger;
  disarm?: (participantKey: string) => void;
  now?: () => number;
}

/** Returns terminateConference(conferenceId, reason); it resolves once every BYE was answered or failed. */
export function conferenceTerminator(opts: ConferenceEndOptions) {
  const now = opts.now ?? Date.now;
  const index = new IndexWriter(opts.stores.indexes, now, opts.logger);
  return async (conferenceId: string, reason: string): Promise<void> => {
    const conference = await opts.stores.conferences.get(conferenceId);
    if (!conference) return;
    const { topic } = conference.value;
    const legs = Object.keys(await index.members(rosterIndexKey(conferenceId)));
    const byes: Promise<unknown>[] = [];
    for (const legId of legs) {
      const key = participantKey(conferenceId, legId);
      const removed = await opts.stores.participants.get(key);
      if (!removed) continue;
      await opts.stores.participants.delete(key).catch(() => undefined);
      opts.disarm?.(key);
      const p = removed.value;
      await opts.relays.release(p.relayAddress, conferenceId, legId).catch(() => false);
      opts.bus.publish(
        subjects.roster(conferenceId),
        encodeEvent(rosterEventSchema, { type: 'left', conferenceId, participant: rosterView(p), at: now() }),
      );
      const bye = createInDialogRequest(dialogOf(p, opts.domain), 'BYE', {
        headers: [{ name: 'Reason', value: `SIP ;cause=200 ;text="${reason.replace(/["\\]/g, "'")}"` }],
      });
      byes.push(opts.send(bye, p.flow).catch(() => undefined));
    }
    await opts.stores.indexes.delete(rosterIndexKey(conferenceId)).catch(() => undefined);
    // The topic first: from here a new INVITE to the factory creates a new conference for it.
    const topicEntry = await opts.stores.topics.get(kvKey(topic));
    if (topicEntry?.value.conferenceId === conferenceId)
      await opts.stores.topics.delete(kvKey(topic), topicEntry.revision).catch(() => undefined);
    await opts.stores.conferences.delete(conferenceId).catch(() => undefined);
    await index.removeQuietly(directoryShardKey(conferenceId), conferenceId);
    await opts.stores.counters
      .mutate(COUNTER_CONFERENCES, (n) => Math.max(0, (n ?? 1) - 1))
      .catch(() => undefined);
    opts.bus.publish(
      subjects.directory,
      encodeEvent(directoryEventSchema, { type: 'deleted', conferenceId, topic, at: now() }),
    );
    opts.logger.info(
      {
        conferenceId,
        topic,
        participants: byes.length,
        reason,
        uri: conferenceUri(conferenceId, opts.domain),
      },
      'conference ended',
    );
    await Promise.all(byes);
  };
}
