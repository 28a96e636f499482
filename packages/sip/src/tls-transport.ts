import net from 'node:net';
import tls from 'node:tls';
import { StreamSocketTransport, type StreamSocketTransportOptions } from './stream-socket-transport.js';
import { socketHost } from './transport.js';

export interface TlsTransportOptions extends StreamSocketTransportOptions {
  /** Our certificate chain and private key (PEM). */
  cert: string | Buffer;
  key: string | Buffer;
  /** Outgoing connections: trusted CAs (default: the system's) and whether to verify the peer (default true). */
  ca?: string | Buffer;
  rejectUnauthorized?: boolean;
  /** Give up an outgoing connect (TCP and TLS handshake) after this long. Default 10 s. */
  connectTimeoutMs?: number;
}

/**
 * SIP over TLS (RFC 3261 §18, §26.2.1): the same Content-Length framing and keep-alives as TCP inside a
 * TLS session; connections are identified by id and reused for any message to the same remote address.
 */
export class TlsTransport extends StreamSocketTransport<tls.TLSSocket, TlsTransportOptions> {
  constructor(opts: TlsTransportOptions) {
    super('tls', { transport: 'TlsTransport', protocol: 'TLS' }, opts);
  }

  protected createServer(onSocket: (socket: tls.TLSSocket) => void): net.Server {
    const server = tls.createServer({ cert: this.opts.cert, key: this.opts.key }, onSocket);
    // A failed handshake concerns one client only; it never reaches the SIP layer.
    server.on('tlsClientError', (_err, socket) => socket.destroy());
    return server;
  }

  protected openSocket(host: string, port: number): { socket: tls.TLSSocket; readyEvent: string } {
    const bare = socketHost(host);
    const socket = tls.connect({
      host: bare,
      port,
      // SNI carries names only (RFC 6066 §3).
      servername: net.isIP(bare) ? undefined : bare,
      ca: this.opts.ca,
      rejectUnauthorized: this.opts.rejectUnauthorized ?? true,
    });
    return { socket, readyEvent: 'secureConnect' };
  }
}
