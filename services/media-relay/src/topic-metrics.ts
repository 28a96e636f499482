// Per-topic metrics with bounded label cardinality: the top-N conferences by load get their own label,
// the rest are summed under `other`. Totals live here; the labelled gauges are recomputed at each scrape,
// so a conference moving in or out of the top N never leaves a stale series behind.
import { Counter, Gauge, type Registry } from 'prom-client';

export interface TopicTotals {
  publicationsIn: number;
  deliveriesOut: number;
  bytesOut: number;
  invalid: number;
  lost: number;
  recovered: number;
  packetsIn: number;
}

export const OTHER_TOPICS = 'other';

export class TopicMetrics {
  private readonly totals = new Map<string, TopicTotals>();
  /** Packets in + out per conference at the previous load sample, for a per-second rate. */
  private readonly lastSample = new Map<string, { packets: number; at: number }>();
  private readonly rates = new Map<string, number>();

  constructor(
    registry: Registry,
    private readonly topN: number,
    private readonly legsOf: () => Map<string, { legs: number }>,
    private readonly now: () => number = Date.now,
  ) {
    const fields: [keyof TopicTotals, string, string][] = [
      [
        'publicationsIn',
        'sip_pubsub_relay_topic_publications_in_total',
        'SenML publications received from publishers here, per topic',
      ],
      [
        'deliveriesOut',
        'sip_pubsub_relay_topic_deliveries_out_total',
        'RTP packets delivered to subscriber legs, per topic',
      ],
      [
        'bytesOut',
        'sip_pubsub_relay_topic_bytes_out_total',
        'RTP bytes delivered to subscriber legs, per topic',
      ],
      [
        'invalid',
        'sip_pubsub_relay_topic_invalid_total',
        'Publications that were not valid SenML or were damaged by loss, per topic',
      ],
      ['lost', 'sip_pubsub_relay_topic_lost_total', 'T.140 generations lost beyond redundancy, per topic'],
      [
        'recovered',
        'sip_pubsub_relay_topic_recovered_total',
        'T.140 generations recovered from redundancy, per topic',
      ],
    ];
    // Counters (cumulative since start, so rate() applies), recomputed from the totals at each scrape.
    for (const [field, name, help] of fields) {
      const self = this;
      new Counter({
        name,
        help: `${help} (top ${topN} by load, the rest as "${OTHER_TOPICS}")`,
        labelNames: ['topic'],
        registers: [registry],
        collect() {
          this.reset();
          self.sample();
          for (const [label, value] of self.grouped((t) => t[field])) this.inc({ topic: label }, value);
        },
      });
    }
    const self = this;
    new Gauge({
      name: 'sip_pubsub_relay_topic_legs',
      help: `Legs hosted here per topic (top ${topN} by load, the rest as "${OTHER_TOPICS}")`,
      labelNames: ['topic'],
      registers: [registry],
      collect() {
        this.reset();
        self.sample();
        const legs = self.legsOf();
        for (const [label, value] of self.grouped((_t, id) => legs.get(id)?.legs ?? 0))
          this.set({ topic: label }, value);
      },
    });
    new Gauge({
      name: 'sip_pubsub_relay_topic_load',
      help: `Per-topic load for autoscaling: packets in plus out per second on this relay (top ${topN}, the rest as "${OTHER_TOPICS}")`,
      labelNames: ['topic'],
      registers: [registry],
      collect() {
        this.reset();
        self.sample();
        for (const [label, value] of self.grouped((_t, id) => self.rates.get(id) ?? 0))
          this.set({ topic: label }, value);
      },
    });
  }

  topic(conferenceId: string): TopicTotals {
    let t = this.totals.get(conferenceId);
    if (!t) {
      t = {
        publicationsIn: 0,
        deliveriesOut: 0,
        bytesOut: 0,
        invalid: 0,
        lost: 0,
        recovered: 0,
        packetsIn: 0,
      };
      this.totals.set(conferenceId, t);
    }
    return t;
  }

  /** Forgets a conference that has no leg here any more. */
  forget(conferenceId: string): void {
    this.totals.delete(conferenceId);
    this.lastSample.delete(conferenceId);
    this.rates.delete(conferenceId);
  }

  /** Packets per second (in + out) of each conference since the previous sample (idempotent within a millisecond). */
  sample(): Map<string, number> {
    const now = this.now();
    for (const [id, t] of this.totals) {
      const packets = t.packetsIn + t.deliveriesOut;
      const last = this.lastSample.get(id);
      if (last && now > last.at) this.rates.set(id, ((packets - last.packets) * 1000) / (now - last.at));
      if (!last || now > last.at) this.lastSample.set(id, { packets, at: now });
    }
    return this.rates;
  }

  /** Values per label: the top N conferences by load by name, the others summed as `other`. */
  grouped(value: (t: TopicTotals, conferenceId: string) => number): Map<string, number> {
    const ranked = [...this.totals.keys()].sort(
      (a, b) => (this.rates.get(b) ?? 0) - (this.rates.get(a) ?? 0) || a.localeCompare(b),
    );
    const out = new Map<string, number>();
    ranked.forEach((id, i) => {
      const label = i < this.topN ? id : OTHER_TOPICS;
      out.set(label, (out.get(label) ?? 0) + value(this.totals.get(id)!, id));
    });
    return out;
  }
}
