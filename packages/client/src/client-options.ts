// Options of SipPubSubClient.connect and their defaults.
import type { Clock, TimerSettings } from '@sip-pubsub/sip';

export interface ClientOptions {
  /** 'host:port' of the broker's SIP edge, e.g. '127.0.0.1:5060' ('[::1]:5060' for IPv6). */
  server: string;
  /** Default 'udp'. */
  transport?: 'udp' | 'tcp';
  /** SIP domain of the broker, the host part of the factory and conference URIs. Default 'localhost'. */
  domain?: string;
  /** Address our SIP and RTP sockets bind to and that we advertise in Via, Contact and SDP. Default '127.0.0.1'. */
  localHost?: string;
  /**
   * User part of our AOR. Default: the credentials' username (a broker with authentication on refuses a
   * From that names another user with 403), else 'sip-pubsub-client'.
   */
  user?: string;
  displayName?: string;
  /** How long a request may go unanswered (Timer B/F = 64*T1). Default 32000. */
  requestTimeoutMs?: number;
  /** RFC 3261 timer base values; T1 overrides the one derived from requestTimeoutMs. */
  timers?: Partial<TimerSettings>;
  /** Time source for SIP timers, T.140 drain and subscription refresh (tests). */
  clock?: Clock;
  /** Digest credentials: a request challenged with 401/407 is sent once more with them (RFC 3261 §22.2). */
  credentials?: { username: string; password: string };
}

export interface ResolvedClientOptions {
  server: { host: string; port: number };
  transport: 'udp' | 'tcp';
  domain: string;
  localHost: string;
  user: string;
  displayName?: string;
  timers: Partial<TimerSettings>;
  credentials?: { username: string; password: string };
}

export class ClientOptionsError extends Error {
  override readonly name = 'ClientOptionsError';
}

export const DEFAULT_SIP_PORT = 5060;

/** Parses 'host:port', '[v6]:port' or a bare host (port 5060). */
export function parseHostPort(text: string): { host: string; port: number } {
  const value = text.trim();
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  if (v6) {
    host = v6[1];
    portText = v6[2];
  } else {
    const colon = value.lastIndexOf(':');
    if (colon >= 0 && value.indexOf(':') !== colon)
      throw new ClientOptionsError(`server "${text}": put an IPv6 address in brackets, e.g. [::1]:5060`);
    host = colon < 0 ? value : value.slice(0, colon);
    portText = colon < 0 ? undefined : value.slice(colon + 1);
  }
  if (host === '' || /[\s/@]/.test(host))
    throw new ClientOptionsError(`server "${text}": expected host:port`);
  let port = DEFAULT_SIP_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new ClientOptionsError(`server "${text}": port must be 1-65535`);
    }
    port = Number(portText);
  }
  return { host, port };
}

export function resolveClientOptions(opts: ClientOptions): ResolvedClientOptions {
  const transport = opts.transport ?? 'udp';
  if (transport !== 'udp' && transport !== 'tcp')
    throw new ClientOptionsError(`transport "${String(transport)}": expected udp or tcp`);
  const requestTimeoutMs = opts.requestTimeoutMs ?? 32_000;
  if (!(requestTimeoutMs > 0))
    throw new ClientOptionsError(`requestTimeoutMs ${requestTimeoutMs}: must be positive`);
  const user = opts.user ?? opts.credentials?.username ?? 'sip-pubsub-client';
  if (!/^[A-Za-z0-9\-_.!~*'()&=+$,;?/]+$/.test(user))
    throw new ClientOptionsError(`user "${user}": not a valid SIP user part`);
  const resolved: ResolvedClientOptions = {
    server: parseHostPort(opts.server),
    transport,
    domain: opts.domain ?? 'localhost',
    localHost: opts.localHost ?? '127.0.0.1',
    user,
    // Timer B and F fire at 64*T1 (RFC 3261 §17.1.1.2, §17.1.2.2).
    timers: { T1: requestTimeoutMs / 64, ...opts.timers },
  };
  if (opts.displayName !== undefined) resolved.displayName = opts.displayName;
  if (opts.credentials !== undefined) {
    if (opts.credentials.username === '' || /[\r\n"]/.test(opts.credentials.username))
      throw new ClientOptionsError('credentials: username must be non-empty, without quotes or line breaks');
    resolved.credentials = { ...opts.credentials };
  }
  return resolved;
}
