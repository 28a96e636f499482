import { collectDefaultMetrics, Registry } from 'prom-client';

/** One registry per service (several share a process in the embedded broker), labelled with its identity. */
export function createRegistry(service: string, instance: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service, instance });
  collectDefaultMetrics({ register: registry });
  return registry;
}
