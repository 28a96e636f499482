// The edge's pre-parse overload control: one SourceIntakeGate in front of every SIP transport, with its
// refusals counted. Over-budget requests never reach the parser or the transaction layer.
import { type SipTransport, SourceIntakeGate } from '@sip-pubsub/sip';
import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
import type { EdgeConfig } from './config.js';

type IntakeConfig = Pick<
  EdgeConfig,
  'SIP_RATE_PER_SOURCE' | 'SIP_RATE_PER_SOURCE_IN_DIALOG' | 'SIP_REJECT_RATE_PER_SOURCE'
>;

export function createIntakeGate(config: IntakeConfig): SourceIntakeGate {
  return new SourceIntakeGate({
    newRequests: config.SIP_RATE_PER_SOURCE,
    inDialog: config.SIP_RATE_PER_SOURCE_IN_DIALOG,
    rejections: config.SIP_REJECT_RATE_PER_SOURCE,
  });
}

/** Puts `gate` in front of each transport; refusals count in sip_pubsub_sip_preparse_refused_total{class, action}. */
export function guardTransports(
  transports: SipTransport[],
  gate: SourceIntakeGate,
  registry: Registry,
): void {
  const refused = new Counter({
    name: 'sip_pubsub_sip_preparse_refused_total',
    help: 'Messages refused before parsing by the per-source budgets: class new|in-dialog, action reject (stateless 503)|drop',
    labelNames: ['class', 'action'],
    registers: [registry],
  });
  for (const transport of transports) {
    transport.intake = (data, flow) => {
      const decision = gate.check(data, flow.remoteHost);
      if (decision.kind !== 'pass') refused.inc({ class: decision.class, action: decision.kind });
      return decision;
    };
  }
}
