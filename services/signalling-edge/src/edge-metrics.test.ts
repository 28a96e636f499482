import { parseMessage, type SipRequest } from '@sip-pubsub/sip';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { methodLabel, TransactionLatency } from './edge-metrics.js';

const request = (method: string) =>
  parseMessage(
    Buffer.from(
      `${method} sip:factory@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@example.net>;tag=1\r\nTo: <sip:factory@example.net>\r\nCall-ID: c1\r\nCSeq: 1 ${method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
    ),
  ) as SipRequest;

describe('edge metrics', () => {
  it('keeps the known methods and counts any other name as other', () => {
    expect(methodLabel('INVITE')).toBe('INVITE');
    expect(methodLabel('PUBLISH')).toBe('PUBLISH');
    expect(methodLabel('XYZZY')).toBe('other');
    expect(methodLabel('invite')).toBe('other');
  });

  it('observes each request once, at its first final response, under its bounded method label', async () => {
    let now = 1_000;
    const registry = new Registry();
    const latency = new TransactionLatency(registry, () => now);
    const invite = request('INVITE');
    const odd = request('FROBNICATE');
    latency.received(invite);
    latency.received(odd);
    now += 30;
    latency.answered(invite, 100);
    now += 20;
    latency.answered(invite, 200);
    latency.answered(invite, 200);
    latency.answered(odd, 405);
    const text = await registry.metrics();
    expect(text).toContain('sip_pubsub_sip_transaction_duration_seconds_count{method="INVITE"} 1');
    expect(text).toContain('sip_pubsub_sip_transaction_duration_seconds_sum{method="INVITE"} 0.05');
    expect(text).toContain('sip_pubsub_sip_transaction_duration_seconds_bucket{le="0.05",method="INVITE"} 1');
    expect(text).toContain(
      'sip_pubsub_sip_transaction_duration_seconds_bucket{le="0.025",method="INVITE"} 0',
    );
    expect(text).toContain('sip_pubsub_sip_transaction_duration_seconds_count{method="other"} 1');
    expect(text).not.toContain('FROBNICATE');
  });
});
