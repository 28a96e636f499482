import type { SipRequest, SipResponse } from './message.js';
import { Transaction, type TransactionContext } from './transaction.js';
import type { Flow } from './transport.js';

export type InviteServerState = 'proceeding' | 'completed' | 'confirmed' | 'terminated';

/**
 * RFC 3261 §17.2.1 INVITE server transaction (Figure 7). A 2xx ends it at once: retransmitting the 2xx
 * until the ACK is the TU's job (§13.3.1.4), announced through the 'accepted' event.
 * Events: 'accepted' (2xx), 'timeout' (Timer H, no ACK), 'transportError', 'stateChange', 'terminated'.
 */
export class InviteServerTransaction extends Transaction<InviteServerState> {
  private lastResponse?: SipResponse;
  private timerGInterval: number;

  constructor(
    readonly request: SipRequest,
    readonly flow: Flow,
    readonly id: string,
    ctx: TransactionContext,
  ) {
    super('proceeding', ctx);
    this.timerGInterval = ctx.timers.T1;
  }

  protected get machine(): string {
    return 'InviteServerTransaction';
  }

  override on(event: 'accepted', fn: (res: SipResponse) => void): this;
  override on(event: 'timeout', fn: () => void): this;
  override on(event: 'transportError', fn: (err: Error) => void): this;
  override on(event: 'stateChange', fn: (state: InviteServerState) => void): this;
  override on(event: 'terminated', fn: () => void): this;
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own signature
  override on(event: string | symbol, fn: (...args: any[]) => void): this {
    return super.on(event, fn);
  }

  /** The response the TU gives; 1xx keeps Proceeding, 2xx terminates, 300-699 moves to Completed. */
  respond(res: SipResponse): void {
    this.require('respond', ['proceeding']);
    this.lastResponse = res;
    this.transmit(res);
    if (res.status < 200) return;
    if (res.status < 300) {
      this.emit('accepted', res);
      this.move('terminated', 'respond 2xx', ['proceeding']);
      return;
    }
    this.move('completed', 'respond final', ['proceeding']);
    if (!this.ctx.reliable) this.timers.start('G', this.timerGInterval, () => this.timerG());
    this.timers.start('H', 64 * this.ctx.timers.T1, () => this.timerH());
  }

  /** A retransmitted INVITE (resend the last response) or an ACK for our non-2xx final. */
  receiveRequest(req: SipRequest): void {
    if (req.method === 'ACK') {
      if (this.state !== 'completed') return; // Confirmed absorbs further ACKs (§17.2.1)
      this.move('confirmed', 'ACK', ['completed']);
      this.timers.stop('G');
      this.timers.stop('H');
      this.startTimer('I', this.ctx.reliable ? 0 : this.ctx.timers.T4, () => this.timerI());
      return;
    }
    if ((this.state === 'proceeding' || this.state === 'completed') && this.lastResponse)
      this.transmit(this.lastResponse);
  }

  /** Retransmit the non-2xx final, doubling up to T2. */
  timerG(): void {
    this.require('Timer G', ['completed']);
    if (this.lastResponse) this.transmit(this.lastResponse);
    this.timerGInterval = Math.min(2 * this.timerGInterval, this.ctx.timers.T2);
    this.timers.start('G', this.timerGInterval, () => this.timerG());
  }

  /** No ACK within 64*T1: give up. */
  timerH(): void {
    this.move('terminated', 'Timer H', ['completed']);
    this.emit('timeout');
  }

  /** End of the ACK absorption window. */
  timerI(): void {
    this.move('terminated', 'Timer I', ['confirmed']);
  }
}
