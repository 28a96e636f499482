// Which browser pages may open a SIP WebSocket to the edge. A page on another site could otherwise drive
// a logged-in operator's browser into the broker (cross-site WebSocket hijacking): the handshake's Origin
// is checked against a list, by default the broker's own HTTP origins (where the console is served).
import type { EdgeConfig } from './config.js';

type OriginConfig = Pick<
  EdgeConfig,
  'SIP_WS_ALLOWED_ORIGINS' | 'HTTP_PORT' | 'SIP_ADVERTISE_HOST' | 'SIP_DOMAIN'
>;

/** The origins a browser shows for the HTTP port under each name the broker is reached by. */
export function defaultAllowedOrigins(config: OriginConfig): string[] {
  const hosts = new Set(['localhost', '127.0.0.1', '[::1]', config.SIP_ADVERTISE_HOST, config.SIP_DOMAIN]);
  const origins = new Set<string>();
  for (const host of hosts) {
    const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    for (const scheme of ['http', 'https'])
      origins.add(new URL(`${scheme}://${bracketed}:${config.HTTP_PORT}`).origin);
  }
  return [...origins];
}

/** The Origin judge for the WebSocket transports: no Origin (not a browser) or one on the list. */
export function originJudge(config: OriginConfig): { allowed: string[]; accept(origin?: string): boolean } {
  const allowed = config.SIP_WS_ALLOWED_ORIGINS ?? defaultAllowedOrigins(config);
  const set = new Set(allowed);
  return { allowed, accept: (origin) => origin === undefined || set.has(origin) };
}
