// Issue 7 defect 2, "legs that never die", against the embedded broker with 20 relay ports and
// T1 = 50 ms (64×T1 = 3.2 s): 60 INVITEs that are never ACKed take every port; after 64×T1 the focus
// ends each dialog (BYE), releases the legs and the conference watcher sees them deleted; joins succeed
// again. Then a factory + join + ACK + BYE loop of a few thousand calls leaves no leg behind.
import { freePort } from '@sip-pubsub/platform';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type RunningBroker, relayPortRange, startEmbedded } from '../support/brokers.js';
import {
  joinByeLoopScenario,
  type LegsTarget,
  PORTS,
  relayLegs,
  T1_MS,
  unackedInvitesScenario,
} from './legs-scenarios.js';

describe('unACKed INVITEs and the port pool, embedded broker (issue 7 defect 2)', () => {
  let broker: RunningBroker;
  let target: LegsTarget;

  beforeAll(async () => {
    const httpPort = await freePort('tcp');
    const range = relayPortRange(PORTS);
    broker = await startEmbedded({
      HTTP_PORT: String(httpPort),
      RELAY_PORT_MIN: String(range.min),
      RELAY_PORT_MAX: String(range.max),
      SIP_T1_MS: String(T1_MS),
      // Joins are retried from one address many times a second here; the rate limit is not under test.
      SIP_RATE_PER_SOURCE: '100000',
      SIP_RATE_PER_SOURCE_IN_DIALOG: 'off',
    });
    target = {
      sipPort: broker.sipPort,
      legs: () => relayLegs(httpPort),
      label: 'embedded',
      logs: () => broker.logs(),
    };
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('ends every dialog whose 2xx is never ACKed within 64×T1, frees its port and tells watchers', () =>
    unackedInvitesScenario(target));

  it('leaves no leg behind after a few thousand factory + join + ACK + BYE calls', () =>
    joinByeLoopScenario(target, { calls: 2_000 }));
});
