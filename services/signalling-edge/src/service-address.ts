// The host the edge writes in Via when the operator gave none: the external address the cloud assigned to
// the SIP Service (status.loadBalancer.ingress), read from the Kubernetes API at start.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '@sip-pubsub/platform';

export interface LoadBalancerStatusLike {
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

/** The first ingress point's IP, else its host name (AWS load balancers have only a name). */
export function loadBalancerAddress(service: LoadBalancerStatusLike): string | undefined {
  for (const ingress of service.status?.loadBalancer?.ingress ?? []) {
    const address = ingress.ip || ingress.hostname;
    if (address) return address;
  }
  return undefined;
}

export interface ServiceAddressOptions {
  namespace: string;
  name: string;
  /** Default: the pod's service account (in cluster), else ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** Wait between reads while the Service has no address yet or the API fails; default 5000 ms. */
  retryMs?: number;
  /** Reads before giving up; default unlimited (the pod stays not ready, and says why, until it has one). */
  attempts?: number;
  logger: Logger;
}

export async function discoverServiceAddress(opts: ServiceAddressOptions): Promise<string> {
  const { CoreV1Api, KubeConfig } = await import('@kubernetes/client-node');
  let kc = opts.kubeConfig;
  if (!kc) {
    kc = new KubeConfig();
    kc.loadFromDefault();
  }
  const api = kc.makeApiClient(CoreV1Api);
  const where = `${opts.namespace}/${opts.name}`;
  const attempts = opts.attempts ?? Number.POSITIVE_INFINITY;
  let cause = 'no address';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const service = await api.readNamespacedService({ name: opts.name, namespace: opts.namespace });
      const address = loadBalancerAddress(service);
      if (address) return address;
      cause = 'no LoadBalancer ingress address yet';
    } catch (err) {
      cause = (err as Error).message;
    }
    opts.logger.info({ service: where, attempt, cause }, 'waiting for the SIP Service external address');
    if (attempt < attempts) await new Promise((r) => setTimeout(r, opts.retryMs ?? 5_000));
  }
  throw new Error(`Service ${where} has no external address after ${attempts} reads: ${cause}`);
}

/** With SIP_ADVERTISE_FROM_SERVICE set, the configuration with SIP_ADVERTISE_HOST taken from that Service. */
export async function advertiseFromService<
  C extends { SIP_ADVERTISE_FROM_SERVICE?: string; POD_NAMESPACE?: string; SIP_ADVERTISE_HOST: string },
>(
  config: C,
  logger: Logger,
  opts: Partial<Pick<ServiceAddressOptions, 'kubeConfig' | 'retryMs' | 'attempts'>> = {},
): Promise<C> {
  const name = config.SIP_ADVERTISE_FROM_SERVICE;
  if (!name) return config;
  const namespace = config.POD_NAMESPACE;
  if (!namespace) throw new Error('POD_NAMESPACE: required when SIP_ADVERTISE_FROM_SERVICE is set');
  const address = await discoverServiceAddress({ namespace, name, logger, ...opts });
  logger.info(
    { service: `${namespace}/${name}`, address },
    'advertising the SIP Service external address in Via',
  );
  return { ...config, SIP_ADVERTISE_HOST: address };
}
