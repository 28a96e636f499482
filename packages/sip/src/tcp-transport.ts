import net from 'node:net';
import { StreamSocketTransport, type StreamSocketTransportOptions } from './stream-socket-transport.js';
import { socketHost } from './transport.js';

export type TcpTransportOptions = StreamSocketTransportOptions;

/**
 * SIP over TCP (RFC 3261 §18): messages framed by Content-Length, connections identified by id and
 * reused for any message to the same remote address (RFC 5923-style reuse).
 */
export class TcpTransport extends StreamSocketTransport<net.Socket> {
  constructor(opts: TcpTransportOptions) {
    super('tcp', { transport: 'TcpTransport', protocol: 'TCP' }, opts);
  }

  protected createServer(onSocket: (socket: net.Socket) => void): net.Server {
    return net.createServer(onSocket);
  }

  protected openSocket(host: string, port: number): { socket: net.Socket; readyEvent: string } {
    return { socket: net.connect({ host: socketHost(host), port }), readyEvent: 'connect' };
  }
}
