import { loadConfig } from '@sip-pubsub/platform';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { edgeConfigSchema } from './config.js';
import { createIntakeGate, guardTransports } from './intake.js';

describe('intake configuration', () => {
  it('defaults derived from the measured capacity, off, and errors that name the variable', () => {
    const config = loadConfig(edgeConfigSchema, {});
    expect(config.SIP_RATE_PER_SOURCE).toEqual({ rate: 200, burst: 400 });
    expect(config.SIP_RATE_PER_SOURCE_IN_DIALOG).toEqual({ rate: 1000, burst: 2000 });
    expect(config.SIP_REJECT_RATE_PER_SOURCE).toEqual({ rate: 50, burst: 100 });
    expect(config.SIP_UDP_RECV_BUFFER).toBe(4 * 1024 * 1024);
    expect(() => loadConfig(edgeConfigSchema, { SIP_UDP_RECV_BUFFER: '10' })).toThrow(/SIP_UDP_RECV_BUFFER/);
    const off = loadConfig(edgeConfigSchema, {
      SIP_RATE_PER_SOURCE_IN_DIALOG: 'off',
      SIP_REJECT_RATE_PER_SOURCE: '0',
    });
    expect(off.SIP_RATE_PER_SOURCE_IN_DIALOG).toBeNull();
    expect(off.SIP_REJECT_RATE_PER_SOURCE).toBeNull();
    expect(() => loadConfig(edgeConfigSchema, { SIP_RATE_PER_SOURCE_IN_DIALOG: 'lots' })).toThrow(
      /SIP_RATE_PER_SOURCE_IN_DIALOG/,
    );
    expect(() => loadConfig(edgeConfigSchema, { SIP_REJECT_RATE_PER_SOURCE: '-1' })).toThrow(
      /SIP_REJECT_RATE_PER_SOURCE/,
    );
  });

  it('guards every transport and counts what it refuses by class and action', async () => {
    const config = loadConfig(edgeConfigSchema, {
      SIP_RATE_PER_SOURCE: '1:1',
      SIP_REJECT_RATE_PER_SOURCE: '1:1',
    });
    const registry = new Registry();
    const transport = { protocol: 'udp' } as Parameters<typeof guardTransports>[0][number];
    guardTransports([transport], createIntakeGate(config), registry);
    const invite = Buffer.from(
      'INVITE sip:factory@localhost SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKi1\r\n' +
        'From: <sip:a@example.com>;tag=1\r\nTo: <sip:factory@localhost>\r\nCall-ID: i1\r\nCSeq: 1 INVITE\r\n\r\n',
    );
    const flow = {
      transport: 'udp' as const,
      remoteHost: '192.0.2.1',
      remotePort: 5060,
      localHost: '',
      localPort: 0,
    };
    const kinds = [1, 2, 3].map(() => transport.intake!(invite, flow).kind);
    expect(kinds).toEqual(['pass', 'reject', 'drop']);
    const metric = await registry.getSingleMetricAsString('sip_pubsub_sip_preparse_refused_total');
    expect(metric).toContain('sip_pubsub_sip_preparse_refused_total{class="new",action="reject"} 1');
    expect(metric).toContain('sip_pubsub_sip_preparse_refused_total{class="new",action="drop"} 1');
  });
});
