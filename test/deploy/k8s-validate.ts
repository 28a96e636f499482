// Checks rendered manifests against the Kubernetes OpenAPI schemas (kubernetes-models) and the
// prometheus-operator CRDs, and pods against the Pod Security "restricted" level.
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as rbac from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as core from 'kubernetes-models/v1';

type Model = new (data: object) => { validate(): void };
const groups: Record<string, Record<string, unknown>> = {
  v1: core,
  'apps/v1': apps,
  'autoscaling/v2': autoscaling,
  'networking.k8s.io/v1': networking,
  'policy/v1': policy,
  'rbac.authorization.k8s.io/v1': rbac,
  'monitoring.coreos.com/v1': monitoring,
};

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are read loosely
  [field: string]: any;
}

/** The schema faults of one object, or [] when it validates; an unknown apiVersion/kind is a fault too. */
export function schemaFaults(object: Manifest): string[] {
  const model = groups[object.apiVersion]?.[object.kind] as Model | undefined;
  if (!model) return [`${object.apiVersion} ${object.kind}: no schema known`];
  try {
    new model(object).validate();
    return [];
  } catch (err) {
    return [`${object.kind}/${object.metadata.name}: ${(err as Error).message}`];
  }
}

// biome-ignore lint/suspicious/noExplicitAny: a PodSpec as rendered
export function podSpecOf(object: Manifest): any | undefined {
  if (object.kind === 'Pod') return object.spec;
  return object.spec?.template?.spec;
}

/**
 * Faults against the Pod Security Standards "restricted" profile (which includes "baseline"): no host
 * namespaces or ports, non-root, no privilege escalation, all capabilities dropped, a RuntimeDefault or
 * Localhost seccomp profile, and only the volume types the profile allows.
 */
export function restrictedFaults(object: Manifest): string[] {
  const spec = podSpecOf(object);
  if (!spec) return [];
  const faults: string[] = [];
  const where = `${object.kind}/${object.metadata.name}`;
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'])
    if (spec[field]) faults.push(`${where}: ${field}`);
  const allowedVolumes = [
    'configMap',
    'csi',
    'downwardAPI',
    'emptyDir',
    'ephemeral',
    'persistentVolumeClaim',
    'projected',
    'secret',
  ];
  for (const v of spec.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== 'name');
    if (!type || !allowedVolumes.includes(type)) faults.push(`${where}: volume ${v.name} of type ${type}`);
  }
  const pod = spec.securityContext ?? {};
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    const sc = c.securityContext ?? {};
    const at = `${where} container ${c.name}`;
    if ((c.ports ?? []).some((p: { hostPort?: number }) => p.hostPort)) faults.push(`${at}: hostPort`);
    if (sc.privileged) faults.push(`${at}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) faults.push(`${at}: allowPrivilegeEscalation not false`);
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) faults.push(`${at}: runAsNonRoot not true`);
    if ((sc.runAsUser ?? pod.runAsUser) === 0) faults.push(`${at}: runAsUser 0`);
    const seccomp = (sc.seccompProfile ?? pod.seccompProfile)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      faults.push(`${at}: seccompProfile ${seccomp}`);
    const drop: string[] = sc.capabilities?.drop ?? [];
    if (!drop.includes('ALL')) faults.push(`${at}: capabilities not dropping ALL`);
    const add: string[] = sc.capabilities?.add ?? [];
    if (add.some((a) => a !== 'NET_BIND_SERVICE')) faults.push(`${at}: adds ${add.join(',')}`);
  }
  return faults;
}
