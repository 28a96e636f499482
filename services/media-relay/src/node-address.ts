// The address a relay on its node's network puts in SDP: the Node's ExternalIP (or InternalIP), read
// once at start from the Kubernetes API, so UAs outside the cluster reach the node the relay runs on.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '@sip-pubsub/platform';

export const NODE_ADDRESS_TYPES = ['off', 'ExternalIP', 'InternalIP'] as const;
export type NodeAddressType = (typeof NODE_ADDRESS_TYPES)[number];

export interface NodeAddressLike {
  type: string;
  address: string;
}

/** The first address of the preferred type; an ExternalIP preference falls back to InternalIP. */
export function pickNodeAddress(
  addresses: readonly NodeAddressLike[],
  preferred: Exclude<NodeAddressType, 'off'>,
): NodeAddressLike | undefined {
  const order = preferred === 'ExternalIP' ? ['ExternalIP', 'InternalIP'] : ['InternalIP'];
  for (const type of order) {
    const found = addresses.find((a) => a.type === type && a.address !== '');
    if (found) return found;
  }
  return undefined;
}

export class NodeAddressError extends Error {
  override readonly name = 'NodeAddressError';
}

export interface NodeAddressOptions {
  nodeName: string;
  preferred: Exclude<NodeAddressType, 'off'>;
  /** Default: the pod's service account (in cluster), else ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** Reads of the Node before giving up (the API server may be briefly unreachable); default 5. */
  attempts?: number;
  retryMs?: number;
  logger: Logger;
}

/** GET /api/v1/nodes/<name> and pick its address; throws NodeAddressError naming the node and the cause. */
export async function discoverNodeAddress(opts: NodeAddressOptions): Promise<string> {
  const { CoreV1Api, KubeConfig } = await import('@kubernetes/client-node');
  let kc = opts.kubeConfig;
  if (!kc) {
    kc = new KubeConfig();
    kc.loadFromDefault();
  }
  const api = kc.makeApiClient(CoreV1Api);
  const attempts = opts.attempts ?? 5;
  let cause = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const node = await api.readNode({ name: opts.nodeName });
      const picked = pickNodeAddress(node.status?.addresses ?? [], opts.preferred);
      if (!picked)
        throw new NodeAddressError(
          `node ${opts.nodeName} has no ${opts.preferred === 'ExternalIP' ? 'ExternalIP or InternalIP' : 'InternalIP'} address`,
        );
      if (picked.type !== opts.preferred)
        opts.logger.warn(
          { node: opts.nodeName, address: picked.address },
          `node has no ${opts.preferred}: advertising its ${picked.type}`,
        );
      return picked.address;
    } catch (err) {
      if (err instanceof NodeAddressError) throw err;
      cause = (err as Error).message;
      opts.logger.warn({ node: opts.nodeName, attempt, err: cause }, 'reading the Node failed');
      if (attempt < attempts) await new Promise((r) => setTimeout(r, opts.retryMs ?? 1_000));
    }
  }
  throw new NodeAddressError(`reading node ${opts.nodeName} failed ${attempts} times: ${cause}`);
}

/** With RELAY_ADVERTISE_FROM_NODE set, the configuration with RELAY_ADVERTISE_HOST taken from the Node. */
export async function advertiseFromNode<
  C extends { RELAY_ADVERTISE_FROM_NODE: NodeAddressType; NODE_NAME?: string; RELAY_ADVERTISE_HOST: string },
>(
  config: C,
  logger: Logger,
  opts: Partial<Pick<NodeAddressOptions, 'kubeConfig' | 'attempts' | 'retryMs'>> = {},
): Promise<C> {
  if (config.RELAY_ADVERTISE_FROM_NODE === 'off') return config;
  const nodeName = config.NODE_NAME;
  if (!nodeName) throw new NodeAddressError('NODE_NAME: required when RELAY_ADVERTISE_FROM_NODE is set');
  const address = await discoverNodeAddress({
    nodeName,
    preferred: config.RELAY_ADVERTISE_FROM_NODE,
    logger,
    ...opts,
  });
  logger.info({ node: nodeName, address }, 'advertising the node address in SDP');
  return { ...config, RELAY_ADVERTISE_HOST: address };
}
