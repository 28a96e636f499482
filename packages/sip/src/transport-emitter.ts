import { EventEmitter } from 'node:events';
import type { SipParseError } from './errors.js';
import type { SipMessage } from './message.js';
import type { Flow } from './transport.js';

/** Typed events shared by the transports. */
export class TransportEmitter extends EventEmitter {
  override on(event: 'message', fn: (msg: SipMessage, raw: Buffer, flow: Flow) => void): this;
  override on(event: 'invalid', fn: (err: SipParseError, raw: Buffer, flow: Flow) => void): this;
  override on(event: 'error', fn: (err: Error) => void): this;
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own signature
  override on(event: string | symbol, fn: (...args: any[]) => void): this {
    return super.on(event, fn);
  }
}

/** IPv4-mapped IPv6 addresses (dual-stack sockets) reported as plain IPv4. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
