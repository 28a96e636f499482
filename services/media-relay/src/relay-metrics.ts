// The relay's Prometheus counters behind the core's RelayCounters: totals per relay, and per topic
// through TopicMetrics (bounded label cardinality). The service and the hot-path bench both use these.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { DropReason, RelayCounters } from './relay.js';
import type { TopicMetrics } from './topic-metrics.js';

export function relayCounters(registry: Registry, topics: TopicMetrics): RelayCounters {
  const publications = new Counter({
    name: 'sip_pubsub_relay_publications_in_total',
    help: 'SenML publications received from publishers on this relay',
    registers: [registry],
  });
  const deliveries = new Counter({
    name: 'sip_pubsub_relay_deliveries_out_total',
    help: 'RTP packets delivered to subscriber legs',
    registers: [registry],
  });
  const bytesOut = new Counter({
    name: 'sip_pubsub_relay_bytes_out_total',
    help: 'RTP bytes delivered to subscriber legs',
    registers: [registry],
  });
  const invalid = new Counter({
    name: 'sip_pubsub_relay_invalid_publications_total',
    help: 'Publications that were not valid SenML or were damaged by loss',
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'sip_pubsub_relay_dropped_datagrams_total',
    help: 'Datagrams not forwarded, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  const lostGauge = new Counter({
    name: 'sip_pubsub_relay_lost_generations_total',
    help: 'T.140 generations lost beyond redundancy',
    registers: [registry],
  });
  const recoveredGauge = new Counter({
    name: 'sip_pubsub_relay_recovered_generations_total',
    help: 'T.140 generations recovered from redundancy',
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'sip_pubsub_relay_publish_deliver_latency_seconds',
    help: 'Time from a publication reaching the first relay to its delivery to subscribers here (one observation per fan-out or mixed packet)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const topic = (id: string) => topics.topic(id);
  // One child per reason, made once: a labelled inc() would hash its labels object on every call.
  const droppedBy = new Map<DropReason, { inc(value?: number): void }>();
  return {
    publicationsIn: (c) => {
      topic(c).publicationsIn++;
      publications.inc();
    },
    deliveriesOut: (c, packets, bytes) => {
      const t = topic(c);
      t.deliveriesOut += packets;
      t.bytesOut += bytes;
      deliveries.inc(packets);
      bytesOut.inc(bytes);
    },
    invalid: (c) => {
      topic(c).invalid++;
      invalid.inc();
    },
    dropped: (reason, count = 1) => {
      let child = droppedBy.get(reason);
      if (!child) {
        child = dropped.labels({ reason });
        droppedBy.set(reason, child);
      }
      child.inc(count);
    },
    lost: (c, lost, recovered) => {
      const t = topic(c);
      t.lost += lost;
      t.recovered += recovered;
      lostGauge.inc(lost);
      recoveredGauge.inc(recovered);
    },
    latency: (_c, seconds) => latency.observe(seconds),
    packetsIn: (c) => {
      topic(c).packetsIn++;
    },
  };
}
