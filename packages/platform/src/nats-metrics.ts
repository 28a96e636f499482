// Connection state of a process's NATS client as a gauge, from the client's status events.
import type { NatsConnection } from 'nats';
import { Gauge, type Registry } from 'prom-client';

/** sip_pubsub_nats_connected: 1 while connected, 0 from a disconnect until the reconnect, and once closed. */
export function natsConnectionGauge(registry: Registry, nc: NatsConnection): Gauge {
  let connected = !nc.isClosed();
  const gauge = new Gauge({
    name: 'sip_pubsub_nats_connected',
    help: 'Whether the NATS connection is up (1) or down or closed (0)',
    registers: [registry],
    collect() {
      this.set(connected && !nc.isClosed() ? 1 : 0);
    },
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false;
      else if (s.type === 'reconnect') connected = true;
    }
  })().catch(() => undefined);
  return gauge;
}
