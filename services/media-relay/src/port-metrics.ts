// How full the relay's RTP port range is, for the "ports nearly exhausted" alert.
import { Gauge, type Registry } from 'prom-client';
import type { PortPool } from './port-pool.js';

export function registerPortGauges(registry: Registry, pool: PortPool, min: number, max: number): void {
  new Gauge({
    name: 'sip_pubsub_relay_ports_free',
    help: 'RTP ports of the range not held by a leg',
    registers: [registry],
    collect() {
      this.set(max - min + 1 - pool.inUse);
    },
  });
  new Gauge({
    name: 'sip_pubsub_relay_port_capacity',
    help: 'RTP ports in the range (RELAY_PORT_MIN to RELAY_PORT_MAX)',
    registers: [registry],
  }).set(max - min + 1);
}
