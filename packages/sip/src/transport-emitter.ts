import { EventEmitter } from 'node:events';
import type { SipParseError } from './errors.js';
import type { SipMessage } from './message.js';
import type { Flow } from './transport.js';

/** Typed events shared by the transports. */
export class TransportEmitter extends EventEmitter {
  private faultCount = 0;

  override on(event: 'message', fn: (msg: SipMessage, raw: Buffer, flow: Flow) => void): this;
  override on(event: 'invalid', fn: (err: SipParseError, raw: Buffer, flow: Flow) => void): this;
  override on(event: 'error', fn: (err: Error) => void): this;
  override on(event: 'fault', fn: (err: Error, where: string) => void): this;
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own signature
  override on(event: string | symbol, fn: (...args: any[]) => void): this {
    return super.on(event, fn);
  }

  /** Socket callbacks that threw and were contained by boundary(). */
  get faults(): number {
    return this.faultCount;
  }

  /**
   * Runs a socket or server callback as a boundary: no input and no socket event may end the process, so
   * whatever `fn` (or a listener it emits to) throws is counted and reported as a 'fault', never rethrown.
   */
  protected boundary(where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.faultCount++;
      try {
        this.emit('fault', err instanceof Error ? err : new Error(String(err)), where);
      } catch {
        // a throwing fault listener is contained too
      }
    }
  }
}

/** IPv4-mapped IPv6 addresses (dual-stack sockets) reported as plain IPv4. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
