import { isUtf8 } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { SipParseError, SipTransportError } from './errors.js';
import type { SipMessage, TransportProtocol } from './message.js';
import { parseMessage } from './parser.js';
import { type SocketEnds, type StreamConnection, StreamConnections } from './stream-connections.js';
import { type Destination, type SipTransport, socketHost } from './transport.js';
import { TransportEmitter } from './transport-emitter.js';

/** The WebSocket subprotocol registered for SIP (RFC 7118 §4.1). */
export const SIP_WEBSOCKET_SUBPROTOCOL = 'sip';

export interface WsTransportOptions {
  host: string;
  /** 0 = ephemeral. */
  port: number;
  maxMessageSize?: number;
  /** Certificate and key (PEM): the transport is then WSS (WebSocket over TLS). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Outgoing WSS connections: trusted CAs and whether to verify the peer. Default: system CAs, verify. */
  clientTls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /** A WebSocket ping every this often; a connection that did not answer the previous one is closed. Default 30 s, 0 disables. */
  pingIntervalMs?: number;
  /** Give up an outgoing connect after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * Judges the handshake's `Origin` header (absent when the client is not a browser); false refuses the
   * upgrade with 403. Default: every origin is accepted.
   */
  acceptOrigin?: (origin: string | undefined) => boolean;
}

interface Connection extends StreamConnection {
  ws: WebSocket;
  /** Seen traffic or a pong since the last ping. */
  alive: boolean;
}

const CRLF = Buffer.from('\r\n');
const DEFAULT_MAX_MESSAGE_SIZE = 65_536;

/**
 * SIP over WebSocket (RFC 7118): each WebSocket message carries exactly one SIP message, text or binary.
 * A peer behind a browser or NAT can only be reached over the connection it opened, so every flow has a
 * connection id and requests to it (NOTIFY, BYE) go back over that connection.
 */
export class WsTransport extends TransportEmitter implements SipTransport {
  readonly protocol: TransportProtocol;
  private server?: http.Server | https.Server;
  private wss?: WebSocketServer;
  private bound?: { host: string; port: number };
  private readonly connections: StreamConnections<Connection>;
  private pinger?: NodeJS.Timeout;
  private closed = false;
  private readonly maxMessageSize: number;

  constructor(private readonly opts: WsTransportOptions) {
    super();
    this.protocol = opts.tls ? 'wss' : 'ws';
    this.connections = new StreamConnections(this.protocol, (conn) => conn.ws.readyState === WebSocket.OPEN);
    this.maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  }

  get address(): { host: string; port: number } {
    if (!this.bound) throw new SipTransportError('WsTransport: address is known only after listen()');
    return this.bound;
  }

  /** Ids of the open connections. */
  get connectionIds(): string[] {
    return this.connections.ids;
  }

  listen(): Promise<void> {
    const wss = new WebSocketServer({
      noServer: true,
      // Room above the SIP limit, so an oversize message is still read and answered 413 by the parser.
      maxPayload: this.maxMessageSize * 2 + 4096,
      handleProtocols: (offered) => pickSipSubprotocol(offered) ?? false,
    });
    this.wss = wss;
    const server = this.opts.tls
      ? https.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, refusePlainHttp)
      : http.createServer(refusePlainHttp);
    this.server = server;
    server.on('upgrade', (req, socket, head) =>
      this.boundary('WebSocket upgrade', () => {
        try {
          this.upgrade(req, socket, head);
        } catch (err) {
          socket.destroy();
          throw err;
        }
      }),
    );
    // A failed TLS handshake or a garbled HTTP request concerns one client only.
    server.on('clientError', (_err, socket) => socket.destroy());
    server.on('tlsClientError', (_err, socket) => socket.destroy());
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, socketHost(this.opts.host), () => {
        server.off('error', reject);
        server.on('error', (err) => this.emit('error', err));
        const addr = server.address() as { address: string; port: number };
        this.bound = { host: addr.address, port: addr.port };
        this.startPinging();
        resolve();
      });
    });
  }

  async send(data: Buffer, to: Destination): Promise<void> {
    if (this.closed) throw new SipTransportError('WsTransport: closed');
    const conn = this.connections.pick(to);
    if (conn) return write(conn, data);
    return write(await this.connect(to.host, to.port), data);
  }

  /** Closes one connection with a WebSocket close frame. */
  closeConnection(id: string, code = 1000, reason = ''): void {
    this.connections.get(id)?.ws.close(code, reason);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pinger) clearInterval(this.pinger);
    for (const conn of this.connections.values()) conn.ws.terminate();
    const wss = this.wss;
    this.wss = undefined;
    if (wss) await new Promise<void>((resolve) => wss.close(() => resolve()));
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** RFC 7118 §4: the handshake must offer the `sip` subprotocol; anything else is refused before upgrading. */
  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const wss = this.wss;
    const offered = parseSubprotocols(req.headers['sec-websocket-protocol']);
    if (!wss || this.closed) {
      refuseUpgrade(socket, 503, 'Service Unavailable', 'transport closed');
      return;
    }
    if (pickSipSubprotocol(offered) === undefined) {
      refuseUpgrade(socket, 400, 'Bad Request', "Sec-WebSocket-Protocol must offer 'sip' (RFC 7118)");
      return;
    }
    const origin = req.headers.origin;
    if (this.opts.acceptOrigin && !this.opts.acceptOrigin(origin)) {
      refuseUpgrade(socket, 403, 'Forbidden', `origin ${JSON.stringify(origin)} is not allowed`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      this.boundary('WebSocket connection', () => {
        // The peer reset during the handshake: no address to answer on.
        if (!req.socket.remoteAddress) {
          ws.terminate();
          return;
        }
        this.adopt(ws, req.socket);
      });
    });
  }

  /** A server may also open WebSocket connections to another SIP WebSocket server (RFC 7118 §5). */
  private connect(host: string, port: number): Promise<Connection> {
    return this.connections.connectOnce(host, port, () => this.open(host, port));
  }

  private open(host: string, port: number): Promise<Connection> {
    const bare = socketHost(host);
    const url = `${this.protocol}://${bare.includes(':') ? `[${bare}]` : bare}:${port}/`;
    return new Promise<Connection>((resolve, reject) => {
      const ws = new WebSocket(url, SIP_WEBSOCKET_SUBPROTOCOL, {
        handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000,
        maxPayload: this.maxMessageSize * 2 + 4096,
        perMessageDeflate: false,
        ca: this.opts.clientTls?.ca,
        rejectUnauthorized: this.opts.clientTls?.rejectUnauthorized ?? true,
      });
      let socket: Partial<SocketEnds> = {};
      ws.once('upgrade', (res) => {
        socket = res.socket;
      });
      ws.once('error', (err) =>
        reject(new SipTransportError(`WebSocket connect to ${url} failed: ${err.message}`)),
      );
      ws.once('open', () => {
        ws.removeAllListeners('error');
        if (ws.protocol !== SIP_WEBSOCKET_SUBPROTOCOL) {
          ws.terminate();
          reject(
            new SipTransportError(`WebSocket connect to ${url}: server did not accept the 'sip' subprotocol`),
          );
          return;
        }
        resolve(
          this.adopt(ws, {
            remoteAddress: socket.remoteAddress ?? bare,
            remotePort: socket.remotePort ?? port,
            localAddress: socket.localAddress,
            localPort: socket.localPort,
          }),
        );
      });
    });
  }

  private adopt(ws: WebSocket, ends: Partial<SocketEnds>): Connection {
    const conn = this.connections.add({ ...this.connections.identify(ends), ws, alive: true });

    ws.on('message', (data, isBinary) =>
      this.boundary('WebSocket message', () => this.receive(conn, toBuffer(data), isBinary)),
    );
    ws.on('pong', () => {
      conn.alive = true;
    });
    // Per-connection failures (bad frames, invalid UTF-8 in a text frame) only end that connection.
    ws.on('error', () => ws.terminate());
    ws.on('close', () => this.connections.delete(conn));
    if (this.closed) ws.terminate();
    return conn;
  }

  private receive(conn: Connection, data: Buffer, _isBinary: boolean): void {
    conn.alive = true;
    if (data.length === 0 || data.every((b) => b === 0x0d || b === 0x0a)) {
      // RFC 5626 §4.4.1-style keep-alive some WebSocket UAs send: answer a double CRLF with one CRLF.
      if (data.equals(Buffer.from('\r\n\r\n'))) conn.ws.send(CRLF, { binary: false });
      return;
    }
    const flow = { ...conn.flow };
    if (!this.admit(data, flow, (response) => conn.ws.send(response, { binary: false }))) return;
    let msg: SipMessage;
    try {
      msg = parseMessage(data, { maxSize: this.maxMessageSize });
    } catch (err) {
      // Message boundaries come from WebSocket framing, so one bad message leaves the connection usable.
      if (err instanceof SipParseError) this.emit('invalid', err, data, flow);
      else this.emit('error', err as Error);
      return;
    }
    this.emit('message', msg, data, flow);
  }

  private startPinging(): void {
    const interval = this.opts.pingIntervalMs ?? 30_000;
    if (interval <= 0) return;
    this.pinger = setInterval(() => {
      for (const conn of this.connections.values()) {
        if (!conn.alive) {
          conn.ws.terminate();
          continue;
        }
        conn.alive = false;
        conn.ws.ping();
      }
    }, interval);
    this.pinger.unref();
  }
}

/** Offered subprotocols from the handshake header (comma-separated tokens, RFC 6455 §4.1). */
function parseSubprotocols(header: string | string[] | undefined): Set<string> {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  const offered = new Set<string>();
  for (const value of values)
    for (const token of value.split(',')) {
      const t = token.trim();
      if (t) offered.add(t);
    }
  return offered;
}

function pickSipSubprotocol(offered: Set<string>): string | undefined {
  for (const p of offered) if (p.toLowerCase() === SIP_WEBSOCKET_SUBPROTOCOL) return p;
  return undefined;
}

function refuseUpgrade(socket: Duplex, status: number, reason: string, detail: string): void {
  const body = `${detail}\r\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function refusePlainHttp(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(426, { Upgrade: 'websocket', 'Content-Type': 'text/plain', Connection: 'close' });
  res.end('SIP over WebSocket: upgrade with Sec-WebSocket-Protocol: sip (RFC 7118)\r\n');
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** RFC 7118 §5.1: text frames for UTF-8 messages, binary frames when the body is not valid UTF-8. */
function write(conn: Connection, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    conn.ws.send(data, { binary: !isUtf8(data) }, (err) => {
      if (err) reject(new SipTransportError(`WebSocket send on ${conn.id} failed: ${err.message}`));
      else resolve();
    });
  });
}
