// The same reproductions as unacked-invites.test.ts against the split deployment: the four services as
// separate processes over a real nats-server, so the edge's DialogFailed and the focus's BYE cross gRPC
// between processes. One relay with 20 ports; the relay's own /metrics says how many legs it holds.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import {
  joinByeLoopScenario,
  type LegsTarget,
  PORTS,
  relayLegs,
  T1_MS,
  unackedInvitesScenario,
} from './legs-scenarios.js';

describe('unACKed INVITEs and the port pool, separate processes (issue 7 defect 2)', () => {
  let broker: RunningBroker;
  let target: LegsTarget;

  beforeAll(async () => {
    broker = await startSeparateProcesses({
      relayPorts: PORTS,
      env: { SIP_T1_MS: String(T1_MS), SIP_RATE_PER_SOURCE: '100000', SIP_RATE_PER_SOURCE_IN_DIALOG: 'off' },
    });
    const relay = broker.services!.find((s) => s.name === 'media-relay')!;
    target = {
      sipPort: broker.sipPort,
      legs: () => relayLegs(relay.httpPort),
      label: 'split',
      logs: () => broker.logs(),
    };
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('ends every dialog whose 2xx is never ACKed within 64×T1, frees its port and tells watchers', () =>
    unackedInvitesScenario(target));

  it('leaves no leg behind after a thousand factory + join + ACK + BYE calls', () =>
    joinByeLoopScenario(target, { calls: 1_000 }));
});
