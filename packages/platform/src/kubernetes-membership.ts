// Type-only at load time: the client is imported on start(), so processes outside a cluster never load it.
import type { Informer, KubeConfig, ObjectCache, V1EndpointSlice } from '@kubernetes/client-node';
import { type EndpointSliceLike, membersFromEndpointSlices, sameMembers } from './endpoint-slices.js';
import { fallbackLogger, type Logger } from './logging.js';
import type { Member, Membership } from './membership.js';

export interface KubernetesMembershipOptions {
  namespace: string;
  /** This pod as others will see it; Kubernetes announces it through its readiness probe. */
  self?: Member;
  /** Services to track, by their names in this code base ('focus-controller', …). */
  watch: string[];
  /** Prefix of their Kubernetes Service names (a Helm release's `<release>-<chart>-`); default none. */
  servicePrefix?: string;
  /** Name of the EndpointSlice port carrying gRPC; default 'grpc'. */
  portName?: string;
  /** Default: in-cluster service account, else ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** Wait before re-listing after a failed list or watch; default 5000 ms. */
  retryMs?: number;
  logger?: Logger;
}

type SliceInformer = Informer<V1EndpointSlice> & ObjectCache<V1EndpointSlice>;

/**
 * Membership in a cluster: a list+watch of each service's EndpointSlices (label
 * kubernetes.io/service-name). Ready means the pod passes its readiness probe; a stopping pod
 * leaves as soon as it fails readiness or starts terminating, so stop() itself only ends the
 * watches. After an error the informer re-lists, as every Kubernetes watch must.
 */
export class KubernetesMembership implements Membership {
  readonly self: Member | undefined;
  private readonly informers = new Map<string, SliceInformer>();
  private readonly current = new Map<string, Member[]>();
  private readonly listeners = new Set<(service: string) => void>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly portName: string;
  private readonly logger: Logger;
  private running = false;

  constructor(private readonly opts: KubernetesMembershipOptions) {
    this.self = opts.self;
    this.portName = opts.portName ?? 'grpc';
    this.logger = opts.logger ?? fallbackLogger();
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const { DiscoveryV1Api, KubeConfig, makeInformer } = await import('@kubernetes/client-node');
    let kc = this.opts.kubeConfig;
    if (!kc) {
      kc = new KubeConfig();
      kc.loadFromDefault();
    }
    const api = kc.makeApiClient(DiscoveryV1Api);
    const namespace = this.opts.namespace;
    const path = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`;
    for (const service of this.opts.watch) {
      this.current.set(service, []);
      const labelSelector = `kubernetes.io/service-name=${this.opts.servicePrefix ?? ''}${service}`;
      const informer = makeInformer<V1EndpointSlice>(
        kc,
        path,
        () => api.listNamespacedEndpointSlice({ namespace, labelSelector }),
        labelSelector,
      );
      const refresh = () => this.refresh(service, informer);
      informer.on('add', refresh);
      informer.on('update', refresh);
      informer.on('delete', refresh);
      informer.on('error', (err: unknown) => {
        this.logger.warn({ err, service }, 'EndpointSlice watch failed; re-listing');
        this.retry(informer);
      });
      this.informers.set(service, informer);
    }
    await Promise.all([...this.informers.values()].map((informer) => informer.start()));
    for (const [service, informer] of this.informers) this.refresh(service, informer);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    await Promise.all([...this.informers.values()].map((informer) => informer.stop()));
    this.informers.clear();
  }

  members(service: string): Member[] {
    return [...(this.current.get(service) ?? [])];
  }

  on(event: 'change', fn: (service: string) => void): void {
    if (event === 'change') this.listeners.add(fn);
  }

  off(event: 'change', fn: (service: string) => void): void {
    if (event === 'change') this.listeners.delete(fn);
  }

  private retry(informer: SliceInformer): void {
    if (!this.running) return;
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (this.running)
        informer.start().catch((err: unknown) => this.logger.warn({ err }, 'EndpointSlice re-list failed'));
    }, this.opts.retryMs ?? 5000);
    this.retryTimers.add(timer);
  }

  private refresh(service: string, informer: SliceInformer): void {
    const next = membersFromEndpointSlices(service, informer.list() as EndpointSliceLike[], this.portName);
    if (sameMembers(this.current.get(service) ?? [], next)) return;
    this.current.set(service, next);
    this.logger.info({ service, members: next.map((m) => m.id) }, 'membership changed');
    for (const fn of this.listeners) {
      try {
        fn(service);
      } catch (err) {
        this.logger.error({ err, service }, 'membership change listener threw');
      }
    }
  }
}
