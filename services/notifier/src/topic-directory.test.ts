import { InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import { conferenceRecordSchema } from '@sip-pubsub/proto';
import { describe, expect, it } from 'vitest';
import { TopicDirectory } from './topic-directory.js';

describe('TopicDirectory.load', () => {
  it('reads every conference, several at a time, and skips one that cannot be read', async () => {
    const kv = new InProcessKvStore();
    const conferences = new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema);
    for (let i = 0; i < 300; i++) {
      const id = `conf${String(i).padStart(4, '0')}`;
      await conferences.create(id, {
        id,
        topic: `site-${i}/t`,
        creator: 'sip:a@x',
        created: 0,
        policy: { onExistingTopic: 'redirect', invalidData: 'drop' },
      });
    }
    let inFlight = 0;
    let most = 0;
    const get = conferences.get.bind(conferences);
    conferences.get = async (id: string) => {
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        if (id === 'conf0007') throw new Error('KV timeout');
        return await get(id);
      } finally {
        inFlight--;
      }
    };
    const directory = new TopicDirectory();
    expect(await directory.load(conferences)).toBe(299);
    expect(directory.topicOf('conf0299')).toBe('site-299/t');
    expect(directory.topicOf('conf0007')).toBeUndefined();
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(64);
  });
});
