import type net from 'node:net';
import { SipParseError, SipTransportError } from './errors.js';
import type { SipMessage, TransportProtocol } from './message.js';
import { parseMessage } from './parser.js';
import { type StreamConnection, StreamConnections } from './stream-connections.js';
import { StreamFramer } from './stream-framer.js';
import { type Destination, type SipTransport, socketHost } from './transport.js';
import { TransportEmitter } from './transport-emitter.js';

/** Settings shared by the transports that carry SIP over a byte stream (TCP, TLS). */
export interface StreamSocketTransportOptions {
  host: string;
  /** 0 = ephemeral. */
  port: number;
  maxMessageSize?: number;
  /** Close a connection after this long without traffic; 0 disables. Default 10 minutes. */
  idleTimeoutMs?: number;
  /** Give up an outgoing connect after this long. Default 10 s. */
  connectTimeoutMs?: number;
}

interface SocketConnection<S extends net.Socket> extends StreamConnection {
  socket: S;
  framer: StreamFramer;
}

/** How a subclass names itself in errors: the class for API misuse, the protocol for network failures. */
interface Names {
  transport: string;
  protocol: string;
}

const CRLF = Buffer.from('\r\n');

/**
 * SIP over a byte stream (RFC 3261 §18): messages framed by Content-Length, CRLF keep-alives
 * (RFC 5626 §4.4.1), an idle timeout, and connections identified by id and reused for any message to the
 * same remote address. Subclasses supply the listening server and the outgoing socket.
 */
export abstract class StreamSocketTransport<
    S extends net.Socket,
    O extends StreamSocketTransportOptions = StreamSocketTransportOptions,
  >
  extends TransportEmitter
  implements SipTransport
{
  readonly protocol: TransportProtocol;
  private server?: net.Server;
  private bound?: { host: string; port: number };
  private readonly connections: StreamConnections<SocketConnection<S>>;
  private closed = false;

  protected constructor(
    protocol: TransportProtocol,
    private readonly names: Names,
    protected readonly opts: O,
  ) {
    super();
    this.protocol = protocol;
    this.connections = new StreamConnections(protocol, (conn) => conn.socket.writable);
  }

  /** A server that hands each accepted (for TLS: handshaken) socket to onSocket. */
  protected abstract createServer(onSocket: (socket: S) => void): net.Server;

  /** Starts an outgoing connection; the socket is usable once it emits readyEvent. */
  protected abstract openSocket(host: string, port: number): { socket: S; readyEvent: string };

  get address(): { host: string; port: number } {
    if (!this.bound)
      throw new SipTransportError(`${this.names.transport}: address is known only after listen()`);
    return this.bound;
  }

  /** Ids of the open connections. */
  get connectionIds(): string[] {
    return this.connections.ids;
  }

  listen(): Promise<void> {
    const server = this.createServer((socket) =>
      this.boundary(`${this.names.protocol} connection`, () => this.accept(socket)),
    );
    this.server = server;
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
    if (this.closed) throw new SipTransportError(`${this.names.transport}: closed`);
    const conn = this.connections.pick(to);
    // Write at once when a connection exists, so a reply queued before a close still goes out first.
    if (conn) return this.write(conn, data);
    return this.write(await this.connect(to.host, to.port), data);
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

  private connect(host: string, port: number): Promise<SocketConnection<S>> {
    const label = this.names.protocol;
    return this.connections.connectOnce(
      host,
      port,
      () =>
        new Promise<SocketConnection<S>>((resolve, reject) => {
          const { socket, readyEvent } = this.openSocket(host, port);
          const timeout = setTimeout(() => {
            socket.destroy();
            reject(new SipTransportError(`${label} connect to ${host}:${port} timed out`));
          }, this.opts.connectTimeoutMs ?? 10_000);
          timeout.unref();
          socket.once('error', (err) => {
            clearTimeout(timeout);
            reject(new SipTransportError(`${label} connect to ${host}:${port} failed: ${err.message}`));
          });
          socket.once(readyEvent, () => {
            clearTimeout(timeout);
            socket.removeAllListeners('error');
            resolve(this.adopt(socket));
          });
        }),
    );
  }

  /**
   * A peer that resets its connection before it is accepted leaves a socket with no remote address; with
   * no address to answer or stamp, the connection is closed unread.
   */
  private accept(socket: S): void {
    if (!socket.remoteAddress || !socket.remotePort) {
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    this.adopt(socket);
  }

  private adopt(socket: S): SocketConnection<S> {
    const conn = this.connections.add({
      ...this.connections.identify(socket),
      socket,
      framer: new StreamFramer({ maxMessageSize: this.opts.maxMessageSize }),
    });
    socket.setNoDelay(true);
    const idle = this.opts.idleTimeoutMs ?? 600_000;
    if (idle > 0) socket.setTimeout(idle, () => socket.destroy());
    socket.on('data', (chunk: Buffer) =>
      this.boundary(`${this.names.protocol} data`, () => {
        try {
          this.receive(conn, chunk);
        } catch (err) {
          // The stream may be out of sync after a failure half-way through its frames.
          socket.destroy();
          throw err;
        }
      }),
    );
    // Per-connection failures only end that connection; they are not transport errors.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.connections.delete(conn));
    if (this.closed) socket.destroy();
    return conn;
  }

  private receive(conn: SocketConnection<S>, chunk: Buffer): void {
    for (const frame of conn.framer.push(chunk)) {
      switch (frame.kind) {
        case 'ping':
          conn.socket.write(CRLF);
          break;
        case 'pong':
          break;
        case 'message': {
          if (!this.admit(frame.data, conn.flow, (response) => conn.socket.write(response))) break;
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

  private write(conn: SocketConnection<S>, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      conn.socket.write(data, (err) => {
        if (err)
          reject(new SipTransportError(`${this.names.protocol} write on ${conn.id} failed: ${err.message}`));
        else resolve();
      });
    });
  }
}
