import { afterEach, describe, expect, it, vi } from 'vitest';
import { type EndpointSliceLike, membersFromEndpointSlices } from './endpoint-slices.js';
import { KubernetesMembership } from './kubernetes-membership.js';
import { createLogger } from './logging.js';
import { FakeKubernetesApi } from './testing/fake-kubernetes-api.js';

const logger = createLogger('test', { level: 'silent' });

function slice(
  name: string,
  endpoints: EndpointSliceLike['endpoints'],
  portName = 'grpc',
): EndpointSliceLike & {
  metadata: { name: string; namespace: string; resourceVersion: string; labels: Record<string, string> };
} {
  return {
    metadata: {
      name,
      namespace: 'pubsub',
      resourceVersion: '1',
      labels: { 'kubernetes.io/service-name': 'focus-controller' },
    },
    addressType: 'IPv4',
    endpoints,
    ports: [
      { name: 'metrics', port: 9101, protocol: 'TCP' },
      { name: portName, port: 7100, protocol: 'TCP' },
    ],
  };
}
const pod = (name: string, ip: string, ready?: boolean, terminating?: boolean) => ({
  addresses: [ip],
  conditions: { ready, terminating },
  nodeName: 'node-a',
  zone: 'z1',
  targetRef: { kind: 'Pod', name },
});

describe('membersFromEndpointSlices', () => {
  it('keeps ready pods with the named port, once each, sorted by pod name', () => {
    const members = membersFromEndpointSlices(
      'focus-controller',
      [
        slice('focus-abc', [
          pod('focus-2', '10.0.0.2', true),
          pod('focus-1', '10.0.0.1'),
          pod('focus-3', '10.0.0.3', false),
        ]),
        slice('focus-def', [pod('focus-2', '10.0.0.2', true), pod('focus-4', '10.0.0.4', true, true)]),
        slice('other-port', [pod('focus-9', '10.0.0.9', true)], 'http'),
      ],
      'grpc',
    );
    expect(members).toEqual([
      {
        id: 'focus-1',
        service: 'focus-controller',
        address: '10.0.0.1:7100',
        meta: { nodeName: 'node-a', zone: 'z1' },
      },
      {
        id: 'focus-2',
        service: 'focus-controller',
        address: '10.0.0.2:7100',
        meta: { nodeName: 'node-a', zone: 'z1' },
      },
    ]);
  });

  it('brackets IPv6 addresses', () => {
    const [m] = membersFromEndpointSlices(
      's',
      [slice('x', [{ addresses: ['fd00::5'], targetRef: { kind: 'Pod', name: 'p' } }])],
      'grpc',
    );
    expect(m.address).toBe('[fd00::5]:7100');
  });
});

/** Just enough of the Kubernetes API: list and watch of EndpointSlices in one namespace. */
class FakeApiServer extends FakeKubernetesApi {
  items: object[] = [];

  constructor() {
    super(({ path, query }) => {
      if (path !== '/apis/discovery.k8s.io/v1/namespaces/pubsub/endpointslices') return undefined;
      if (query.get('watch') === 'true') return { watch: true };
      return {
        body: {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSliceList',
          metadata: { resourceVersion: this.currentResourceVersion },
          items: this.items,
        },
      };
    });
  }
}

describe('KubernetesMembership against a fake API server', () => {
  let api: FakeApiServer;
  let membership: KubernetesMembership | undefined;
  afterEach(async () => {
    await membership?.stop();
    await api.stop();
  });

  it('lists, then follows the watch as pods become ready and leave', async () => {
    api = new FakeApiServer();
    const kubeConfig = await api.start({ namespace: 'pubsub' });
    const first = slice('focus-abc', [pod('focus-1', '10.0.0.1', true), pod('focus-2', '10.0.0.2', false)]);
    api.items = [first];
    membership = new KubernetesMembership({
      namespace: 'pubsub',
      watch: ['focus-controller'],
      kubeConfig,
      logger,
    });
    const changes: string[] = [];
    membership.on('change', (s) => changes.push(s));
    await membership.start();
    expect(membership.members('focus-controller').map((m) => m.id)).toEqual(['focus-1']);
    expect(api.requests[0]).toContain('labelSelector=kubernetes.io%2Fservice-name%3Dfocus-controller');
    await vi.waitFor(() => expect(api.requests.some((r) => r.includes('watch=true'))).toBe(true));

    // focus-2 passes its readiness probe.
    api.event(
      'MODIFIED',
      slice('focus-abc', [pod('focus-1', '10.0.0.1', true), pod('focus-2', '10.0.0.2', true)]),
    );
    await vi.waitFor(() =>
      expect(membership?.members('focus-controller').map((m) => m.id)).toEqual(['focus-1', 'focus-2']),
    );

    // focus-1 is terminating (SIGTERM): it leaves at once.
    api.event(
      'MODIFIED',
      slice('focus-abc', [pod('focus-1', '10.0.0.1', false, true), pod('focus-2', '10.0.0.2', true)]),
    );
    await vi.waitFor(() =>
      expect(membership?.members('focus-controller').map((m) => m.id)).toEqual(['focus-2']),
    );

    api.event('DELETED', slice('focus-abc', []));
    await vi.waitFor(() => expect(membership?.members('focus-controller')).toEqual([]));
    expect(changes).toEqual(['focus-controller', 'focus-controller', 'focus-controller', 'focus-controller']);
    expect(membership.members('media-relay')).toEqual([]);
  });

  it('watches the Services of a Helm release by prefix and reports them by service name', async () => {
    api = new FakeApiServer();
    const kubeConfig = await api.start({ namespace: 'pubsub' });
    api.items = [slice('focus-abc', [pod('focus-1', '10.0.0.1', true)])];
    membership = new KubernetesMembership({
      namespace: 'pubsub',
      watch: ['focus-controller'],
      servicePrefix: 'rel-sip-pubsub-',
      kubeConfig,
      logger,
    });
    await membership.start();
    expect(api.requests[0]).toContain(
      'labelSelector=kubernetes.io%2Fservice-name%3Drel-sip-pubsub-focus-controller',
    );
    expect(membership.members('focus-controller').map((m) => m.id)).toEqual(['focus-1']);
  });
});
