import { EventEmitter } from 'node:events';
import type { SipParseError } from './errors.js';
import type { IntakeDecision } from './intake-gate.js';
import type { SipMessage } from './message.js';
import type { Flow } from './transport.js';

/** Typed events shared by the transports. */
export class TransportEmitter extends EventEmitter {
  /**
   * Checked on the raw bytes of every message before it is parsed (e.g. SourceIntakeGate): a message that
   * does not pass is not parsed; a rejection's response is sent back on the flow, statelessly.
   */
  intake?: (data: Buffer, flow: Flow) => IntakeDecision;
  private faultCount = 0;

  override on(event: 'message', fn: (msg: SipMessage, raw: Buffer, flow: Flow) => void): this;
  override on(event: 'invalid', fn: (err: SipParseError, raw: Buffer, flow: Flow) => void): this;
  override on(event: 'error', fn: (err: Error) => void): this;
  override on(event: 'fault', fn: (err: Error, where: string) => void): this;
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own signature
  override on(event: string | symbol, fn: (...args: any[]) => void): this {
    return super.on(event, fn);
  }

  /** Whether `data` may be parsed; a rejection is answered with `reply` and goes no further. */
  protected admit(data: Buffer, flow: Flow, reply: (response: Buffer) => void): boolean {
    const check = this.intake;
    if (!check) return true;
    const decision = check(data, flow);
    if (decision.kind === 'pass') return true;
    if (decision.kind === 'reject') reply(decision.response);
    return false;
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
