import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BusMembership } from './bus-membership.js';
import { baseConfig, ConfigError, loadConfig } from './config.js';
import { InProcessBus } from './in-process-bus.js';
import { KubernetesMembership } from './kubernetes-membership.js';
import { createLogger } from './logging.js';
import { membershipFactory } from './membership-factory.js';

const schema = z.object(baseConfig(9100));
const logger = createLogger('test', { level: 'silent' });

describe('membershipFactory', () => {
  it('uses NATS heartbeats by default and the EndpointSlice watch when asked', () => {
    const bus = new InProcessBus();
    const byDefault = membershipFactory(loadConfig(schema, {}), bus, logger)({ watch: ['notifier'] });
    expect(byDefault).toBeInstanceOf(BusMembership);
    const inCluster = membershipFactory(
      loadConfig(schema, {
        MEMBERSHIP: 'kubernetes',
        POD_NAMESPACE: 'iot',
        K8S_SERVICE_PREFIX: 'rel-sip-pubsub-',
      }),
      bus,
      logger,
    )({ watch: ['notifier'] });
    expect(inCluster).toBeInstanceOf(KubernetesMembership);
  });

  it('names POD_NAMESPACE when Kubernetes membership lacks it, and MEMBERSHIP when it is unknown', () => {
    const bus = new InProcessBus();
    expect(() => membershipFactory(loadConfig(schema, { MEMBERSHIP: 'kubernetes' }), bus, logger)).toThrow(
      /^POD_NAMESPACE: required when MEMBERSHIP=kubernetes/,
    );
    expect(() => loadConfig(schema, { MEMBERSHIP: 'consul' })).toThrow(ConfigError);
    expect(() => loadConfig(schema, { MEMBERSHIP: 'consul' })).toThrow(/^MEMBERSHIP:/);
  });
});
