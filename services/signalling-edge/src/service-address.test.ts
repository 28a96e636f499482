// The edge's Via host from its LoadBalancer Service, read from a fake Kubernetes API server that speaks the
// real wire format; the address appears only after a few reads, as a cloud assigns it after creation.
import type { KubeConfig } from '@kubernetes/client-node';
import { createLogger, loadConfig } from '@sip-pubsub/platform';
import { FakeKubernetesApi } from '@sip-pubsub/platform/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { edgeConfigSchema } from './config.js';
import { advertiseFromService, discoverServiceAddress, loadBalancerAddress } from './service-address.js';

const logger = createLogger('test', { level: 'silent' });

/** GET the SIP Service: no ingress address for the first `pendingReads` reads, then `ingress`. */
class FakeApiServer extends FakeKubernetesApi {
  pendingReads = 0;
  ingress: { ip?: string; hostname?: string }[] = [];

  constructor() {
    super(({ path }) => {
      if (path !== '/api/v1/namespaces/iot/services/rel-sip-pubsub-sip') return undefined;
      const assigned = this.pendingReads-- <= 0;
      return {
        body: {
          kind: 'Service',
          apiVersion: 'v1',
          metadata: { name: 'rel-sip-pubsub-sip', namespace: 'iot', uid: 'u-1', resourceVersion: '812' },
          spec: {
            type: 'LoadBalancer',
            clusterIP: '10.96.4.20',
            externalTrafficPolicy: 'Local',
            ports: [{ name: 'sip-udp', port: 5060, targetPort: 'sip-udp', protocol: 'UDP', nodePort: 31060 }],
            selector: { 'app.kubernetes.io/name': 'signalling-edge' },
          },
          status: { loadBalancer: assigned ? { ingress: this.ingress } : {} },
        },
      };
    });
  }

  override start(): Promise<KubeConfig> {
    return super.start({ token: 'sa-token' });
  }
}

describe('loadBalancerAddress', () => {
  it('takes the first ingress IP, else its host name, else nothing', () => {
    expect(
      loadBalancerAddress({
        status: { loadBalancer: { ingress: [{ ip: '203.0.113.5' }, { ip: '203.0.113.6' }] } },
      }),
    ).toBe('203.0.113.5');
    expect(
      loadBalancerAddress({ status: { loadBalancer: { ingress: [{ hostname: 'a1.elb.example.com' }] } } }),
    ).toBe('a1.elb.example.com');
    expect(loadBalancerAddress({ status: { loadBalancer: {} } })).toBeUndefined();
    expect(loadBalancerAddress({})).toBeUndefined();
  });
});

describe('the SIP Service address from a fake Kubernetes API server', () => {
  let api: FakeApiServer;
  afterEach(() => api.stop());

  it('waits until the Service has an external address and puts it in SIP_ADVERTISE_HOST', async () => {
    api = new FakeApiServer();
    const kubeConfig = await api.start();
    api.pendingReads = 2;
    api.ingress = [{ ip: '203.0.113.5' }];
    const config = loadConfig(edgeConfigSchema, {
      SIP_ADVERTISE_FROM_SERVICE: 'rel-sip-pubsub-sip',
      POD_NAMESPACE: 'iot',
    });
    const advertised = await advertiseFromService(config, logger, { kubeConfig, retryMs: 0 });
    expect(advertised.SIP_ADVERTISE_HOST).toBe('203.0.113.5');
    expect(api.requests).toEqual(Array(3).fill('GET /api/v1/namespaces/iot/services/rel-sip-pubsub-sip'));
  });

  it('gives up after its attempts naming the Service, and leaves the configuration alone when not asked', async () => {
    api = new FakeApiServer();
    const kubeConfig = await api.start();
    api.pendingReads = 10;
    await expect(
      discoverServiceAddress({
        namespace: 'iot',
        name: 'rel-sip-pubsub-sip',
        kubeConfig,
        logger,
        retryMs: 0,
        attempts: 3,
      }),
    ).rejects.toThrow(
      'Service iot/rel-sip-pubsub-sip has no external address after 3 reads: no LoadBalancer ingress address yet',
    );
    const plain = loadConfig(edgeConfigSchema, { SIP_ADVERTISE_HOST: '192.0.2.9' });
    expect(await advertiseFromService(plain, logger, { kubeConfig })).toBe(plain);
    expect(() => loadConfig(edgeConfigSchema, { SIP_ADVERTISE_FROM_SERVICE: 'x' })).toThrow(/POD_NAMESPACE/);
  });
});
