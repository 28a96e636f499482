import { connect, type MsgHdrs, type NatsConnection, headers as natsHeaders, type Subscription } from 'nats';
import {
  assertValidHeaders,
  type Bus,
  BusClosedError,
  type BusMessage,
  type BusSubscription,
} from './bus.js';
import { fallbackLogger, type Logger } from './logging.js';
import { assertValidSubject } from './subject.js';

function toRecord(hdrs: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!hdrs) return out;
  for (const key of hdrs.keys()) out[key] = hdrs.get(key);
  return out;
}

/**
 * The Bus over a NATS connection. close() ends this bus's subscriptions; the connection is the
 * caller's unless `ownsConnection` is set (then close() drains and closes it).
 */
class NatsBus implements Bus {
  private readonly subs = new Set<Subscription>();
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
    private readonly ownsConnection: boolean,
  ) {}

  publish(subject: string, data: Uint8Array, headers?: Record<string, string>): void {
    if (this.closed) throw new BusClosedError();
    assertValidSubject(subject, false);
    // nats.js queues the payload by reference until its next write: copy so callers may reuse buffers.
    const payload = data.slice();
    if (headers && Object.keys(headers).length > 0) {
      assertValidHeaders(headers);
      const h = natsHeaders();
      for (const [k, v] of Object.entries(headers)) h.set(k, v);
      this.nc.publish(subject, payload, { headers: h });
    } else {
      this.nc.publish(subject, payload);
    }
  }

  subscribe(
    subject: string,
    handler: (msg: BusMessage) => void,
    opts: { queue?: string } = {},
  ): BusSubscription {
    if (this.closed) throw new BusClosedError();
    assertValidSubject(subject, true);
    const sub = this.nc.subscribe(subject, {
      queue: opts.queue,
      // A callback (rather than an iterator) delivers synchronously as frames are parsed, in order.
      callback: (err, msg) => {
        if (err) {
          this.logger.warn({ err, subject }, 'bus subscription error');
          return;
        }
        try {
          handler({ subject: msg.subject, data: msg.data, headers: toRecord(msg.headers) });
        } catch (e) {
          this.logger.error({ err: e, subject: msg.subject }, 'bus handler threw');
        }
      },
    });
    this.subs.add(sub);
    return {
      unsubscribe: () => {
        if (!this.subs.delete(sub)) return;
        if (!sub.isClosed()) sub.unsubscribe();
      },
    };
  }

  async flush(): Promise<void> {
    if (this.closed || this.nc.isClosed()) return;
    await this.nc.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const sub of this.subs) if (!sub.isClosed()) sub.unsubscribe();
    this.subs.clear();
    if (this.ownsConnection) {
      if (!this.nc.isClosed()) await this.nc.drain();
    } else if (!this.nc.isClosed()) {
      await this.nc.flush();
    }
  }
}

export async function connectNatsBus(
  nc: NatsConnection,
  opts: { logger?: Logger; ownsConnection?: boolean } = {},
): Promise<Bus> {
  return new NatsBus(nc, opts.logger ?? fallbackLogger(), opts.ownsConnection ?? false);
}

/**
 * Connects and keeps reconnecting forever (also while waiting for the first connection, so a pod
 * may start before NATS), logging every status change.
 */
export async function connectNats(url: string, name: string, logger?: Logger): Promise<NatsConnection> {
  const log = logger ?? fallbackLogger();
  const nc = await connect({
    servers: url.split(',').map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    waitOnFirstConnect: true,
    // Without it every request (each KV operation is one) captures two stack traces up front, for a
    // timeout that rarely comes: ~8% of the focus's CPU per join in a profile (issue 11).
    noAsyncTraces: true,
  });
  log.info({ server: nc.getServer() }, 'connected to NATS');
  void (async () => {
    for await (const status of nc.status()) {
      const data = typeof status.data === 'object' ? JSON.stringify(status.data) : status.data;
      if (status.type === 'error' || status.type === 'disconnect' || status.type === 'ldm') {
        log.warn({ nats: status.type, data }, 'NATS status');
      } else if (status.type === 'reconnect' || status.type === 'update') {
        log.info({ nats: status.type, data }, 'NATS status');
      } else {
        // Debug events: reconnect attempts and ping timers.
        log.debug({ nats: status.type, data }, 'NATS status');
      }
    }
  })().catch(() => undefined);
  void nc.closed().then((err) => {
    if (err) log.error({ err }, 'NATS connection closed with error');
    else log.info('NATS connection closed');
  });
  return nc;
}
