import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { SipParseError, SipTransportError } from './errors.js';
import type { SipMessage, TransportProtocol } from './message.js';
import { parseMessage } from './parser.js';
import { StreamFramer } from './stream-framer.js';
import { type Destination, type Flow, type SipTransport, socketHost } from './transport.js';
import { normalizeAddress, TransportEmitter } from './transport-emitter.js';

export interface TlsTransportOptions {
  host: string;
  /** 0 = ephemeral. */
  port: number;
  /** Our certificate chain and private key (PEM). */
  cert: string | Buffer;
  key: string | Buffer;
  /** Outgoing connections: trusted CAs (default: the system's) and whether to verify the peer (default true). */
  ca?: string | Buffer;
  rejectUnauthorized?: boolean;
  maxMessageSize?: number;
  /** Close a connection after this long without traffic; 0 disables. Default 10 minutes. */
  idleTimeoutMs?: number;
  /** Give up an outgoing connect (TCP and TLS handshake) after this long. Default 10 s. */
  connectTimeoutMs?: number;
}

interface Connection {
  id: string;
  socket: tls.TLSSocket;
  framer: StreamFramer;
  remoteKey: string;
  flow: Flow;
}

const CRLF = Buffer.from('\r\n');

/**
 * SIP over TLS (RFC 3261 §18, §26.2.1): the same Content-Length framing and keep-alives as TCP inside a
 * TLS session; connections are identified by id and reused for any message to the same remote address.
 */
export class TlsTransport extends TransportEmitter implements SipTransport {
  readonly protocol: TransportProtocol = 'tls';
  private server?: tls.Server;
  private bound?: { host: string; port: number };
  private readonly connections = new Map<string, Connection>();
  private readonly byRemote = new Map<string, Set<string>>();
  private readonly connecting = new Map<string, Promise<Connection>>();
  private readonly idPrefix = `tls-${randomBytes(4).toString('hex')}-`;
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: TlsTransportOptions) {
    super();
  }

  get address(): { host: string; port: number } {
    if (!this.bound) throw new SipTransportError('TlsTransport: address is known only after listen()');
    return this.bound;
  }

  /** Ids of the open connections. */
  get connectionIds(): string[] {
    return [...this.connections.keys()];
  }

  listen(): Promise<void> {
    const server = tls.createServer({ cert: this.opts.cert, key: this.opts.key }, (socket) =>
      this.adopt(socket),
    );
    this.server = server;
    // A failed handshake concerns one client only; it never reaches the SIP layer.
    server.on('tlsClientError', (_err, socket) => socket.destroy());
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, socketHost(this.opts.host), () => {
        server.off('error', reject);
        server.on('error', (err) => this.emit('error', err));
        const addr = server.address() as net.AddressInfo;
        this.bound = { host: addr.address, port: addr.port };
        resolve();
      });
    });
  }

  async send(data: Buffer, to: Destination): Promise<void> {
    if (this.closed) throw new SipTransportError('TlsTransport: closed');
    let conn = to.connectionId !== undefined ? this.connections.get(to.connectionId) : undefined;
    if (conn && !conn.socket.writable) conn = undefined;
    conn ??= this.findOpen(to.host, to.port);
    if (conn) return write(conn, data);
    return write(await this.connect(to.host, to.port), data);
  }

  /** Closes one connection (e.g. after a framing error). */
  closeConnection(id: string): void {
    this.connections.get(id)?.socket.destroy();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const conn of this.connections.values()) conn.socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private findOpen(host: string, port: number): Connection | undefined {
    const ids = this.byRemote.get(remoteKey(host, port));
    if (!ids) return undefined;
    for (const id of ids) {
      const conn = this.connections.get(id);
      if (conn?.socket.writable) return conn;
    }
    return undefined;
  }

  private connect(host: string, port: number): Promise<Connection> {
    const key = remoteKey(host, port);
    const pending = this.connecting.get(key);
    if (pending) return pending;
    const bare = socketHost(host);
    const attempt = new Promise<Connection>((resolve, reject) => {
      const socket = tls.connect({
        host: bare,
        port,
        // SNI carries names only (RFC 6066 §3).
        servername: net.isIP(bare) ? undefined : bare,
        ca: this.opts.ca,
        rejectUnauthorized: this.opts.rejectUnauthorized ?? true,
      });
      const timeout = setTimeout(() => {
        socket.destroy();
        reject(new SipTransportError(`TLS connect to ${host}:${port} timed out`));
      }, this.opts.connectTimeoutMs ?? 10_000);
      timeout.unref();
      socket.once('error', (err) => {
        clearTimeout(timeout);
        reject(new SipTransportError(`TLS connect to ${host}:${port} failed: ${err.message}`));
      });
      socket.once('secureConnect', () => {
        clearTimeout(timeout);
        socket.removeAllListeners('error');
        resolve(this.adopt(socket));
      });
    }).finally(() => this.connecting.delete(key));
    this.connecting.set(key, attempt);
    return attempt;
  }

  private adopt(socket: tls.TLSSocket): Connection {
    const id = this.idPrefix + this.nextId++;
    const remoteHost = normalizeAddress(socket.remoteAddress);
    const remotePort = socket.remotePort ?? 0;
    const conn: Connection = {
      id,
      socket,
      framer: new StreamFramer({ maxMessageSize: this.opts.maxMessageSize }),
      remoteKey: remoteKey(remoteHost, remotePort),
      flow: {
        transport: 'tls',
        remoteHost,
        remotePort,
        localHost: normalizeAddress(socket.localAddress),
        localPort: socket.localPort ?? 0,
        connectionId: id,
      },
    };
    this.connections.set(id, conn);
    const ids = this.byRemote.get(conn.remoteKey) ?? new Set<string>();
    this.byRemote.set(conn.remoteKey, ids);
    ids.add(id);

    socket.setNoDelay(true);
    const idle = this.opts.idleTimeoutMs ?? 600_000;
    if (idle > 0) socket.setTimeout(idle, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => this.receive(conn, chunk));
    // Per-connection failures only end that connection; they are not transport errors.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.forget(conn));
    if (this.closed) socket.destroy();
    return conn;
  }

  private forget(conn: Connection): void {
    this.connections.delete(conn.id);
    const ids = this.byRemote.get(conn.remoteKey);
    ids?.delete(conn.id);
    if (ids?.size === 0) this.byRemote.delete(conn.remoteKey);
  }

  private receive(conn: Connection, chunk: Buffer): void {
    for (const frame of conn.framer.push(chunk)) {
      switch (frame.kind) {
        case 'ping':
          conn.socket.write(CRLF);
          break;
        case 'pong':
          break;
        case 'message': {
          let msg: SipMessage;
          try {
            msg = parseMessage(frame.data, { maxSize: this.opts.maxMessageSize });
          } catch (err) {
            if (err instanceof SipParseError) this.emit('invalid', err, frame.data, { ...conn.flow });
            else this.emit('error', err as Error);
            break;
          }
          this.emit('message', msg, frame.data, { ...conn.flow });
          break;
        }
        case 'error':
          // The stream is out of sync; listeners may still answer (the write is queued), then we close.
          this.emit('invalid', frame.error, frame.data, { ...conn.flow });
          conn.socket.end();
          setTimeout(() => conn.socket.destroy(), 2000).unref();
          break;
      }
    }
  }
}

function remoteKey(host: string, port: number): string {
  return `${normalizeAddress(socketHost(host)).toLowerCase()}|${port}`;
}

function write(conn: Connection, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    conn.socket.write(data, (err) => {
      if (err) reject(new SipTransportError(`TLS write on ${conn.id} failed: ${err.message}`));
      else resolve();
    });
  });
}
