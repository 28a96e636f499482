// Requests that need NATS (KV state, the bus) while NATS is away: they used to wait for the JetStream
// timeout and end as 500. Here they fail at once, and as UNAVAILABLE, so the edge answers 503 with
// Retry-After (or tries another replica) — issue 7, defect 6.
import { GrpcStatusError } from './grpc.js';

/** How long a request waits for a dropped NATS connection to come back before it is refused. */
export const RECONNECT_GRACE_MS = 500;

/** gRPC UNAVAILABLE. */
const UNAVAILABLE = 14;

const OUTAGE_CODES = new Set([
  'TIMEOUT',
  '503',
  '408',
  'CONNECTION_CLOSED',
  'CONNECTION_DRAINING',
  'CONNECTION_REFUSED',
  'CONNECTION_TIMEOUT',
  'DISCONNECT',
]);

/** A NATS error that means "NATS (or JetStream) cannot serve now", not "this request is wrong". */
export function isNatsOutageError(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string; api_error?: { code?: number } } | null;
  if (!e) return false;
  if (e.name === 'NatsError' && e.code !== undefined && OUTAGE_CODES.has(String(e.code))) return true;
  if (e.api_error?.code === 503) return true;
  return /no responders|temporarily unavailable|insufficient resources|no suitable peers|timeout/i.test(
    e.name === 'NatsError' ? (e.message ?? '') : '',
  );
}

/**
 * Runs a request's work; refuses it at once while `connected()` says NATS is away, and turns a NATS
 * outage error into GrpcStatusError(UNAVAILABLE). Other errors pass through unchanged.
 */
export async function failFastWithoutNats<T>(
  connected: (() => boolean) | undefined,
  work: () => Promise<T>,
  reconnectGraceMs = RECONNECT_GRACE_MS,
): Promise<T> {
  // A client moving to another node of a cluster is back within milliseconds: wait that long, no longer.
  for (const end = Date.now() + reconnectGraceMs; connected && !connected() && Date.now() < end; )
    await new Promise((r) => setTimeout(r, 20));
  if (connected && !connected()) throw new GrpcStatusError(UNAVAILABLE, 'NATS unavailable');
  try {
    return await work();
  } catch (err) {
    if (isNatsOutageError(err) || (connected && !connected()))
      throw new GrpcStatusError(UNAVAILABLE, `NATS unavailable: ${(err as Error).message}`);
    throw err;
  }
}

/** Follows a NATS connection's status: false from a disconnect until the reconnect. */
export function trackNatsConnection(nc: {
  status(): AsyncIterable<{ type: string }>;
  isClosed(): boolean;
}): () => boolean {
  let up = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') up = false;
      else if (s.type === 'reconnect') up = true;
    }
  })().catch(() => undefined);
  return () => up && !nc.isClosed();
}
