// Request metrics of the edge with bounded labels: a method name the edge does not know is counted as
// `other`, so a peer sending random method names (before authentication) cannot create series.

import type { SipRequest } from '@sip-pubsub/sip';
import { Histogram, type Registry } from 'prom-client';

/** The methods of PROFILE.md's Allow header. */
export const KNOWN_METHODS: ReadonlySet<string> = new Set([
  'INVITE',
  'ACK',
  'CANCEL',
  'OPTIONS',
  'BYE',
  'REFER',
  'SUBSCRIBE',
  'NOTIFY',
  'PUBLISH',
  'INFO',
  'UPDATE',
  'MESSAGE',
  'PRACK',
  'REGISTER',
]);

export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'other';
}

/** Server transaction latency: from the request's arrival at the edge to its final response, per method. */
export class TransactionLatency {
  private readonly arrived = new WeakMap<SipRequest, number>();
  private readonly histogram: Histogram;

  constructor(
    registry: Registry,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.histogram = new Histogram({
      name: 'sip_pubsub_sip_transaction_duration_seconds',
      help: 'Time from a request reaching the edge to its final response, by method',
      labelNames: ['method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 32],
      registers: [registry],
    });
  }

  received(req: SipRequest): void {
    this.arrived.set(req, this.now());
  }

  /** Observes once per request, at its first final response. */
  answered(req: SipRequest, status: number): void {
    if (status < 200) return;
    const at = this.arrived.get(req);
    if (at === undefined) return;
    this.arrived.delete(req);
    this.histogram.observe({ method: methodLabel(req.method) }, (this.now() - at) / 1000);
  }
}
