// The UDP socket of one media leg (RTP on localHost:ephemeral). An adapter: bytes in and out, no parsing.
import dgram from 'node:dgram';

export class RtpSocket {
  private closed = false;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly address: { host: string; port: number },
  ) {}

  static bind(
    host: string,
    onDatagram?: (data: Buffer, from: { host: string; port: number }) => void,
  ): Promise<RtpSocket> {
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    const socket = dgram.createSocket(bare.includes(':') ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, bare, () => {
        socket.off('error', reject);
        // ICMP port-unreachable and the like surface here; media is best effort, the dialog decides.
        socket.on('error', () => {});
        if (onDatagram)
          socket.on('message', (data, rinfo) => onDatagram(data, { host: rinfo.address, port: rinfo.port }));
        const addr = socket.address();
        resolve(new RtpSocket(socket, { host: addr.address, port: addr.port }));
      });
    });
  }

  send(data: Uint8Array, host: string, port: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('RTP socket is closed'));
    return new Promise((resolve, reject) => {
      this.socket.send(data, port, host, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
