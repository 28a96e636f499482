import { createRequire } from 'node:module';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

// prom-client's totals of active handles, requests and resources are gauges named like counters;
// the per-type gauges of the same names without `_total` carry the same numbers.
const GAUGES_NAMED_AS_COUNTERS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** The version of this code base (the platform package is versioned with the services). */
export const BUILD_VERSION: string = createRequire(import.meta.url)('../package.json').version;

/** One registry per service (several share a process in the embedded broker), labelled with its identity. */
export function createRegistry(service: string, instance: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service, instance });
  collectDefaultMetrics({ register: registry });
  for (const name of GAUGES_NAMED_AS_COUNTERS) registry.removeSingleMetric(name);
  new Gauge({
    name: 'sip_pubsub_build_info',
    help: 'Always 1; the labels say which build and Node.js version this process runs',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  }).set({ version: BUILD_VERSION, node_version: process.version }, 1);
  return registry;
}
