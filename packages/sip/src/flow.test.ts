import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Flow, flowFromWire, flowToWire, peerFlow } from './flow.js';

const part = fc.option(fc.string({ minLength: 1, maxLength: 12 }), { nil: undefined });
const flow: fc.Arbitrary<Flow> = fc
  .record({
    transport: fc.constantFrom('udp' as const, 'tcp' as const, 'tls' as const, 'ws' as const, 'wss' as const),
    remoteHost: fc.string({ maxLength: 20 }),
    remotePort: fc.integer({ min: 0, max: 65535 }),
    localHost: part,
    localPort: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    connectionId: part,
    edgeId: part,
  })
  .map((f) => {
    const out: Flow = { transport: f.transport, remoteHost: f.remoteHost, remotePort: f.remotePort };
    for (const key of ['localHost', 'localPort', 'connectionId', 'edgeId'] as const)
      if (f[key] !== undefined) Object.assign(out, { [key]: f[key] });
    return out;
  });

describe('Flow over gRPC', () => {
  it('comes back from the wire as it went (absent parts travel as empty, and come back absent)', () => {
    fc.assert(
      fc.property(flow, (f) => {
        expect(flowFromWire(flowToWire(f))).toEqual(f);
      }),
    );
  });

  it('reads a message without a flow, or without a transport, as UDP', () => {
    expect(flowFromWire(undefined)).toEqual({ transport: 'udp', remoteHost: '', remotePort: 0 });
    expect(flowFromWire({ transport: '', remoteHost: 'h', remotePort: 5 })).toEqual({
      transport: 'udp',
      remoteHost: 'h',
      remotePort: 5,
    });
    expect(flowFromWire({ transport: 'TCP', remoteHost: 'h', remotePort: 5 }).transport).toBe('tcp');
  });

  it('refuses a transport no edge runs, naming it', () => {
    fc.assert(
      fc.property(
        fc
          .string({ minLength: 1 })
          .filter((t) => !['udp', 'tcp', 'tls', 'ws', 'wss'].includes(t.toLowerCase())),
        (t) => {
          expect(() => flowFromWire({ transport: t })).toThrow(/unknown transport/);
        },
      ),
    );
  });

  it('keeps of a flow, beside a dialog, the peer and its edge but not our socket', () => {
    fc.assert(
      fc.property(flow, (f) => {
        const kept = peerFlow(f);
        expect(kept).not.toHaveProperty('localHost');
        expect(kept).not.toHaveProperty('localPort');
        expect(kept).toEqual({ ...f, localHost: undefined, localPort: undefined });
      }),
    );
  });
});
