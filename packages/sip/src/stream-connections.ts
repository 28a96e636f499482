import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type { TransportProtocol } from './message.js';
import { type Destination, type Flow, socketHost } from './transport.js';
import { normalizeAddress } from './transport-emitter.js';

/** What every connection of a connection-oriented transport carries, whatever its socket. */
export interface StreamConnection {
  id: string;
  /** The remote address as a reuse key (see remoteKey). */
  remoteKey: string;
  flow: Flow;
}

/** The two ends of a connection as a socket reports them; a net.Socket is one. */
export type SocketEnds = Pick<net.Socket, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort'>;

/**
 * The open connections of one TCP, TLS or WebSocket transport: ids unique to this transport, reuse of any
 * open connection to the same remote address (RFC 5923-style), and at most one connect per remote address.
 */
export class StreamConnections<C extends StreamConnection> {
  private readonly byId = new Map<string, C>();
  private readonly byRemote = new Map<string, Set<string>>();
  private readonly connecting = new Map<string, Promise<C>>();
  private readonly idPrefix: string;
  private nextId = 1;

  /** isOpen says whether a message may still be written on a connection. */
  constructor(
    private readonly protocol: TransportProtocol,
    private readonly isOpen: (conn: C) => boolean,
  ) {
    this.idPrefix = `${protocol}-${randomBytes(4).toString('hex')}-`;
  }

  get ids(): string[] {
    return [...this.byId.keys()];
  }

  get(id: string): C | undefined {
    return this.byId.get(id);
  }

  values(): IterableIterator<C> {
    return this.byId.values();
  }

  /** A fresh id, its reuse key and its flow, for a connection just opened or accepted. */
  identify(ends: Partial<SocketEnds>): StreamConnection {
    const id = this.idPrefix + this.nextId++;
    const remoteHost = normalizeAddress(ends.remoteAddress);
    const remotePort = ends.remotePort ?? 0;
    return {
      id,
      remoteKey: remoteKey(remoteHost, remotePort),
      flow: {
        transport: this.protocol,
        remoteHost,
        remotePort,
        localHost: normalizeAddress(ends.localAddress),
        localPort: ends.localPort ?? 0,
        connectionId: id,
      },
    };
  }

  add(conn: C): C {
    this.byId.set(conn.id, conn);
    const ids = this.byRemote.get(conn.remoteKey) ?? new Set<string>();
    this.byRemote.set(conn.remoteKey, ids);
    ids.add(conn.id);
    return conn;
  }

  /** Forgets a connection once its socket has closed. */
  delete(conn: C): void {
    this.byId.delete(conn.id);
    const ids = this.byRemote.get(conn.remoteKey);
    ids?.delete(conn.id);
    if (ids?.size === 0) this.byRemote.delete(conn.remoteKey);
  }

  /** The connection the destination names while it is open, else any open one to its address. */
  pick(to: Destination): C | undefined {
    const named = to.connectionId !== undefined ? this.byId.get(to.connectionId) : undefined;
    if (named && this.isOpen(named)) return named;
    const ids = this.byRemote.get(remoteKey(to.host, to.port));
    if (!ids) return undefined;
    for (const id of ids) {
      const conn = this.byId.get(id);
      if (conn && this.isOpen(conn)) return conn;
    }
    return undefined;
  }

  /** Runs connect unless a connect to the same remote address is already under way, whose result is shared. */
  connectOnce(host: string, port: number, connect: () => Promise<C>): Promise<C> {
    const key = remoteKey(host, port);
    const pending = this.connecting.get(key);
    if (pending) return pending;
    const attempt = connect().finally(() => this.connecting.delete(key));
    this.connecting.set(key, attempt);
    return attempt;
  }
}

/** Remote addresses compare without brackets, IPv4-mapped prefixes or letter case. */
export function remoteKey(host: string, port: number): string {
  return `${normalizeAddress(socketHost(host)).toLowerCase()}|${port}`;
}
