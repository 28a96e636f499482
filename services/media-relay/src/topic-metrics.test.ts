import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TopicMetrics } from './topic-metrics.js';

describe('TopicMetrics', () => {
  it('labels the top N conferences by load and sums the rest as other', async () => {
    let now = 0;
    const registry = new Registry();
    const m = new TopicMetrics(
      registry,
      2,
      () =>
        new Map([
          ['a', { legs: 1 }],
          ['b', { legs: 2 }],
          ['c', { legs: 3 }],
        ]),
      () => now,
    );
    for (const id of ['a', 'b', 'c']) m.topic(id);
    m.sample();
    for (const [id, n] of [
      ['a', 10],
      ['b', 30],
      ['c', 20],
    ] as const) {
      m.topic(id).packetsIn += n;
      m.topic(id).publicationsIn += n;
    }
    now = 1000;
    const text = await registry.metrics();
    expect(text).toContain('sip_pubsub_relay_topic_load{topic="b"} 30');
    expect(text).toContain('sip_pubsub_relay_topic_load{topic="c"} 20');
    expect(text).toContain('sip_pubsub_relay_topic_load{topic="other"} 10');
    expect(text).toContain('sip_pubsub_relay_topic_publications_in_total{topic="other"} 10');
    // Cumulative series are counters, so rate() over them is right.
    expect(text).toContain('# TYPE sip_pubsub_relay_topic_publications_in_total counter');
    expect(text).toContain('# TYPE sip_pubsub_relay_topic_load gauge');
    expect(text).toContain('sip_pubsub_relay_topic_legs{topic="other"} 1');
    expect(text).not.toContain('topic="a"');
  });
});
