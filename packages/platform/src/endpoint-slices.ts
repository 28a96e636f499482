import type { Member } from './membership.js';

/** The parts of a discovery.k8s.io/v1 EndpointSlice that membership reads. */
export interface EndpointSliceLike {
  metadata?: { name?: string; labels?: Record<string, string> };
  addressType?: string;
  endpoints?: {
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    hostname?: string;
    nodeName?: string;
    zone?: string;
    targetRef?: { kind?: string; name?: string };
  }[];
  ports?: { name?: string; port?: number; protocol?: string }[];
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * The ready members of `service` described by its EndpointSlices. A member's id is its pod name
 * (so it equals the POD_NAME the pod uses as its own id), its address the first endpoint address
 * with the port named `portName`. A nil `ready` condition means ready (discovery.k8s.io/v1);
 * terminating endpoints are not ready. A pod listed by several slices appears once.
 */
export function membersFromEndpointSlices(
  service: string,
  slices: readonly EndpointSliceLike[],
  portName: string,
): Member[] {
  const byId = new Map<string, Member>();
  for (const slice of slices) {
    const port = slice.ports?.find((p) => (p.name ?? '') === portName)?.port;
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      const ready = endpoint.conditions?.ready ?? true;
      if (!ready || endpoint.conditions?.terminating === true) continue;
      const ip = endpoint.addresses[0];
      if (!ip) continue;
      const id = (endpoint.targetRef?.kind === 'Pod' && endpoint.targetRef.name) || endpoint.hostname || ip;
      const meta: Record<string, string> = {};
      if (endpoint.nodeName) meta.nodeName = endpoint.nodeName;
      if (endpoint.zone) meta.zone = endpoint.zone;
      byId.set(id, { id, service, address: hostPort(ip, port), meta });
    }
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function sameMembers(a: readonly Member[], b: readonly Member[]): boolean {
  return a.length === b.length && a.every((m, i) => JSON.stringify(m) === JSON.stringify(b[i]));
}
