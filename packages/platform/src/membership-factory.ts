// Which membership a service uses (DESIGN.md "Membership"): NATS heartbeats anywhere, or a watch on the
// Kubernetes EndpointSlices of each service inside a cluster. Services ask the factory; they never choose.

import type { Bus } from './bus.js';
import { BusMembership } from './bus-membership.js';
import { ConfigError } from './config.js';
import { KubernetesMembership } from './kubernetes-membership.js';
import type { Logger } from './logging.js';
import type { Member, Membership } from './membership.js';

export interface MembershipSettings {
  MEMBERSHIP: 'nats' | 'kubernetes';
  POD_NAMESPACE?: string;
  K8S_SERVICE_PREFIX: string;
}

export type MembershipFactory = (opts: { self?: Member; watch: string[] }) => Membership;

/** Throws ConfigError when Kubernetes membership is asked for without a namespace. */
export function membershipFactory(settings: MembershipSettings, bus: Bus, logger: Logger): MembershipFactory {
  if (settings.MEMBERSHIP === 'kubernetes') {
    const namespace = settings.POD_NAMESPACE;
    if (!namespace)
      throw new ConfigError(
        'POD_NAMESPACE',
        'POD_NAMESPACE: required when MEMBERSHIP=kubernetes (set it from the downward API, metadata.namespace)',
      );
    return ({ self, watch }) =>
      new KubernetesMembership({
        namespace,
        self,
        watch,
        servicePrefix: settings.K8S_SERVICE_PREFIX,
        logger,
      });
  }
  return ({ self, watch }) => new BusMembership({ bus, self, watch, logger });
}
