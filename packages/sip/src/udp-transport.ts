import dgram from 'node:dgram';
import { SipParseError, SipTransportError } from './errors.js';
import type { TransportProtocol } from './message.js';
import { parseMessage } from './parser.js';
import { type Destination, type Flow, type SipTransport, socketHost } from './transport.js';
import { normalizeAddress, TransportEmitter } from './transport-emitter.js';

export interface UdpTransportOptions {
  host: string;
  /** 0 = ephemeral. */
  port: number;
  maxMessageSize?: number;
  /**
   * SO_RCVBUF in bytes (the kernel caps it at net.core.rmem_max): room for the datagrams that arrive while
   * the process is busy, so a short stall under a flood drops fewer legitimate ones. Default: the system's.
   */
  recvBufferSize?: number;
}

/** SIP over UDP (RFC 3261 §18): one message per datagram. */
export class UdpTransport extends TransportEmitter implements SipTransport {
  readonly protocol: TransportProtocol = 'udp';
  private socket?: dgram.Socket;
  private bound?: { host: string; port: number };

  constructor(private readonly opts: UdpTransportOptions) {
    super();
  }

  get address(): { host: string; port: number } {
    if (!this.bound) throw new SipTransportError('UdpTransport: address is known only after listen()');
    return this.bound;
  }

  /** The receive buffer the kernel granted (after listen()). */
  get recvBufferSize(): number {
    return this.socket?.getRecvBufferSize() ?? 0;
  }

  listen(): Promise<void> {
    const host = socketHost(this.opts.host);
    const socket = dgram.createSocket({
      type: host.includes(':') ? 'udp6' : 'udp4',
      recvBufferSize: this.opts.recvBufferSize,
    });
    this.socket = socket;
    socket.on('message', (data, rinfo) => this.boundary('udp message', () => this.receive(data, rinfo)));
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.opts.port, host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.emit('error', err));
        const addr = socket.address();
        this.bound = { host: addr.address, port: addr.port };
        resolve();
      });
    });
  }

  send(data: Buffer, to: Destination): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new SipTransportError('UdpTransport: not listening'));
    return new Promise((resolve, reject) => {
      socket.send(data, to.port, socketHost(to.host), (err) => {
        if (err) reject(new SipTransportError(`UDP send to ${to.host}:${to.port} failed: ${err.message}`));
        else resolve();
      });
    });
  }

  close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }

  private receive(data: Buffer, rinfo: dgram.RemoteInfo): void {
    // Keep-alives: CRLF-only datagrams, and STUN (first byte 0 or 1, RFC 5626 §4.4.2) are not SIP.
    if (data.length === 0 || data[0] < 0x02 || data.every((b) => b === 0x0d || b === 0x0a)) return;
    const flow: Flow = {
      transport: 'udp',
      remoteHost: normalizeAddress(rinfo.address),
      remotePort: rinfo.port,
      localHost: this.bound?.host ?? '',
      localPort: this.bound?.port ?? 0,
    };
    // Stateless answers go to the packet's source only, never to an address the message names.
    if (
      !this.admit(data, flow, (response) => this.socket?.send(response, rinfo.port, rinfo.address, () => {}))
    )
      return;
    let msg: ReturnType<typeof parseMessage>;
    try {
      msg = parseMessage(data, { maxSize: this.opts.maxMessageSize });
    } catch (err) {
      if (err instanceof SipParseError) this.emit('invalid', err, data, flow);
      else this.emit('error', err as Error);
      return;
    }
    this.emit('message', msg, data, flow);
  }
}
