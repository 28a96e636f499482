// A relay on its node's network learns the address to put in SDP from its Node object, read from a fake
// Kubernetes API server that speaks the real wire format (JSON over HTTP, as the API server does).
import type { KubeConfig } from '@kubernetes/client-node';
import {
  BusMembership,
  createLogger,
  createRegistry,
  GrpcClientPool,
  InProcessBus,
  InProcessKvStore,
  loadConfig,
  type RunningService,
  unary,
} from '@sip-pubsub/platform';
import { FakeKubernetesApi } from '@sip-pubsub/platform/testing';
import {
  contracts,
  type LegAllocation__Output,
  type LegSpec,
  type MediaRelayClient,
} from '@sip-pubsub/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { relayConfigSchema } from './config.js';
import { advertiseFromNode, discoverNodeAddress, NodeAddressError, pickNodeAddress } from './node-address.js';
import { startMediaRelay } from './service.js';

const logger = createLogger('test', { level: 'silent' });

/** GET /api/v1/nodes/<name>: the Nodes it holds as v1 Node JSON, 404 Status for the others. */
class FakeApiServer extends FakeKubernetesApi {
  nodes = new Map<string, { type: string; address: string }[]>();

  constructor() {
    super(({ method, path }) => {
      const name = method === 'GET' ? /^\/api\/v1\/nodes\/([^/]+)$/.exec(path)?.[1] : undefined;
      const addresses = name ? this.nodes.get(decodeURIComponent(name)) : undefined;
      return name && addresses ? { body: nodeObject(decodeURIComponent(name), addresses) } : undefined;
    });
  }

  override start(): Promise<KubeConfig> {
    return super.start({ token: 'service-account-token' });
  }
}

function nodeObject(name: string, addresses: { type: string; address: string }[]): object {
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name,
      uid: '5f1c6a9e-0000-4000-8000-000000000001',
      resourceVersion: '4711',
      labels: { 'kubernetes.io/hostname': name },
    },
    spec: { podCIDR: '10.244.1.0/24' },
    status: {
      addresses,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          lastHeartbeatTime: '2026-12-02T16:00:00Z',
          lastTransitionTime: '2026-12-01T00:00:00Z',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
        },
      ],
      nodeInfo: {
        kubeletVersion: 'v1.31.4',
        architecture: 'amd64',
        operatingSystem: 'linux',
        osImage: 'Debian GNU/Linux 12',
        kernelVersion: '6.1.0',
        containerRuntimeVersion: 'containerd://1.7.24',
        bootID: 'b',
        machineID: 'm',
        systemUUID: 's',
        kubeProxyVersion: '',
      },
    },
  };
}

describe('pickNodeAddress', () => {
  const both = [
    { type: 'Hostname', address: 'node-a' },
    { type: 'InternalIP', address: '10.0.0.7' },
    { type: 'ExternalIP', address: '203.0.113.7' },
  ];
  it('prefers ExternalIP, falls back to InternalIP, and never picks a Hostname', () => {
    expect(pickNodeAddress(both, 'ExternalIP')?.address).toBe('203.0.113.7');
    expect(pickNodeAddress(both, 'InternalIP')?.address).toBe('10.0.0.7');
    expect(pickNodeAddress(both.slice(0, 2), 'ExternalIP')?.address).toBe('10.0.0.7');
    expect(pickNodeAddress(both.slice(0, 1), 'ExternalIP')).toBeUndefined();
    expect(pickNodeAddress([both[2]], 'InternalIP')).toBeUndefined();
  });
});

describe('node address from a fake Kubernetes API server', () => {
  let api: FakeApiServer;
  const relays: RunningService[] = [];
  const clients = new GrpcClientPool<MediaRelayClient>(contracts.MediaRelay);
  afterEach(async () => {
    for (const r of relays.splice(0)) await r.stop();
    await api.stop();
  });

  it('a relay started with RELAY_ADVERTISE_FROM_NODE answers AllocateLeg with its Node ExternalIP', async () => {
    api = new FakeApiServer();
    const kubeConfig = await api.start();
    api.nodes.set('node-a', [
      { type: 'InternalIP', address: '10.0.0.7' },
      { type: 'ExternalIP', address: '203.0.113.7' },
      { type: 'Hostname', address: 'node-a' },
    ]);
    const config = loadConfig(relayConfigSchema, {
      RELAY_ADVERTISE_FROM_NODE: 'ExternalIP',
      NODE_NAME: 'node-a',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT_MIN: '46100',
      RELAY_PORT_MAX: '46109',
    });
    const advertised = await advertiseFromNode(config, logger, { kubeConfig });
    expect(api.requests).toEqual(['GET /api/v1/nodes/node-a']);
    expect(api.authorizations).toEqual(['Bearer service-account-token']);
    const bus = new InProcessBus();
    const relay = await startMediaRelay(advertised, {
      bus,
      kv: new InProcessKvStore(),
      logger,
      registry: createRegistry('relay', 'r1'),
      instanceId: 'r1',
      membership: ({ self, watch }) => new BusMembership({ bus, self, watch }),
    });
    relays.push(relay);
    const client = clients.get(`127.0.0.1:${relay.grpcPort}`);
    const spec: LegSpec = {
      conferenceId: 'c1',
      legId: 'l1',
      publishes: true,
      subscribes: false,
      remoteHost: '198.51.100.20',
      remotePort: 40000,
      t140Pt: 98,
      redPt: 100,
      redundancy: 2,
      mode: 'FORWARDING_MODE_TRANSLATE',
    };
    const allocation = await unary<LegSpec, LegAllocation__Output>(client, 'AllocateLeg', spec);
    expect(allocation.host).toBe('203.0.113.7');
    expect(allocation.port).toBeGreaterThanOrEqual(46100);
  });

  it('falls back to the InternalIP of a node without an ExternalIP', async () => {
    api = new FakeApiServer();
    const kubeConfig = await api.start();
    api.nodes.set('node-b', [{ type: 'InternalIP', address: '10.0.0.8' }]);
    expect(
      await discoverNodeAddress({ nodeName: 'node-b', preferred: 'ExternalIP', kubeConfig, logger }),
    ).toBe('10.0.0.8');
  });

  it('retries while the API server is unavailable, then reads the Node', async () => {
    api = new FakeApiServer();
    const kubeConfig = await api.start();
    api.nodes.set('node-c', [{ type: 'ExternalIP', address: '203.0.113.9' }]);
    api.failuresBeforeAnswer = 2;
    expect(
      await discoverNodeAddress({
        nodeName: 'node-c',
        preferred: 'ExternalIP',
        kubeConfig,
        logger,
        retryMs: 0,
      }),
    ).toBe('203.0.113.9');
    expect(api.requests).toHaveLength(3);
  });

  it('stops the start with the node and cause named when the Node is missing or has no usable address', async () => {
    api = new FakeApiServer();
    const kubeConfig = await api.start();
    api.nodes.set('bare', [{ type: 'Hostname', address: 'bare' }]);
    const missing = discoverNodeAddress({
      nodeName: 'gone',
      preferred: 'ExternalIP',
      kubeConfig,
      logger,
      attempts: 2,
      retryMs: 0,
    });
    await expect(missing).rejects.toThrow(NodeAddressError);
    await expect(missing).rejects.toThrow(/reading node gone failed 2 times/);
    await expect(
      discoverNodeAddress({ nodeName: 'bare', preferred: 'ExternalIP', kubeConfig, logger }),
    ).rejects.toThrow('node bare has no ExternalIP or InternalIP address');
  });

  it('leaves the configuration alone when off, and requires NODE_NAME when on', async () => {
    api = new FakeApiServer();
    await api.start();
    const off = loadConfig(relayConfigSchema, { RELAY_ADVERTISE_HOST: '192.0.2.1' });
    expect(off.RELAY_ADVERTISE_FROM_NODE).toBe('off');
    expect(await advertiseFromNode(off, logger)).toBe(off);
    expect(() => loadConfig(relayConfigSchema, { RELAY_ADVERTISE_FROM_NODE: 'ExternalIP' })).toThrow(
      /NODE_NAME/,
    );
    expect(() =>
      loadConfig(relayConfigSchema, { RELAY_ADVERTISE_FROM_NODE: 'PublicIP', NODE_NAME: 'n' }),
    ).toThrow(/RELAY_ADVERTISE_FROM_NODE/);
    expect(api.requests).toEqual([]);
  });
});
