import type { SipParseError } from './errors.js';
import type { Flow } from './flow.js';
import type { IntakeDecision } from './intake-gate.js';
import type { SipMessage, TransportProtocol } from './message.js';

export type { Flow } from './flow.js';

export interface Destination {
  transport: TransportProtocol;
  host: string;
  port: number;
  connectionId?: string;
}

export interface SipTransport {
  readonly protocol: TransportProtocol;
  /** Bound address, valid after listen(). */
  readonly address: { host: string; port: number };
  /** Optional: checked on the raw bytes of each message before parsing (see SourceIntakeGate). */
  intake?: (data: Buffer, flow: Flow) => IntakeDecision;
  listen(): Promise<void>;
  /** Stream transports: the connection `connectionId` if open, else an open one to host:port, else a new one. */
  send(data: Buffer, to: Destination): Promise<void>;
  close(): Promise<void>;
  on(event: 'message', fn: (msg: SipMessage, raw: Buffer, flow: Flow) => void): this;
  on(event: 'invalid', fn: (err: SipParseError, raw: Buffer, flow: Flow) => void): this;
  on(event: 'error', fn: (err: Error) => void): this;
  /** A socket callback threw; the transport contained it (the connection or datagram is dropped). */
  on(event: 'fault', fn: (err: Error, where: string) => void): this;
  /** Optional: lets a TransactionLayer detach its listeners on close(). */
  // biome-ignore lint/suspicious/noExplicitAny: matches EventEmitter.off
  off?(event: string, fn: (...args: any[]) => void): this;
}

export function isReliable(protocol: TransportProtocol): boolean {
  return protocol !== 'udp';
}

/** Host as a socket API wants it: IPv6 without brackets. */
export function socketHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
