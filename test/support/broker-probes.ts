// Small probes of a running broker that many wire tests share: the relay's leg gauge from /metrics and
// a poll that gives up with the broker's own logs, so a timeout says what the broker was doing.

/** The relay's `sip_pubsub_relay_legs` gauge, read from the broker's /metrics. */
export async function relayLegs(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const m = /^sip_pubsub_relay_legs(?:\{[^}]*\})? (\d+)/m.exec(text);
  if (!m) throw new Error('no sip_pubsub_relay_legs in /metrics');
  return Number(m[1]);
}

/** Polls `probe` every 25 ms until it gives a value (not undefined or false); the broker's logs on timeout. */
export async function until<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  logs: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out; broker logs:\n${logs().slice(-6000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
