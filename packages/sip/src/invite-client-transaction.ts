import { createAckForNonSuccess } from './ack.js';
import type { SipRequest, SipResponse } from './message.js';
import { TIMER_D_UNRELIABLE_MS } from './timers.js';
import { Transaction, type TransactionContext } from './transaction.js';

export type InviteClientState = 'calling' | 'proceeding' | 'completed' | 'terminated';

/**
 * RFC 3261 §17.1.1 INVITE client transaction (Figure 5). Sends the ACK for non-2xx finals itself;
 * a 2xx ends it (the TU acknowledges 2xx, §13.2.2.4).
 * Events: 'response' (every response passed up), 'timeout' (Timer B), 'transportError', 'stateChange', 'terminated'.
 */
export class InviteClientTransaction extends Transaction<InviteClientState> {
  private timerAInterval: number;
  private started = false;
  private ack?: SipRequest;

  constructor(
    readonly request: SipRequest,
    readonly id: string,
    ctx: TransactionContext,
  ) {
    super('calling', ctx);
    this.timerAInterval = ctx.timers.T1;
  }

  protected get machine(): string {
    return 'InviteClientTransaction';
  }

  override on(event: 'response', fn: (res: SipResponse) => void): this;
  override on(event: 'timeout', fn: () => void): this;
  override on(event: 'transportError', fn: (err: Error) => void): this;
  override on(event: 'stateChange', fn: (state: InviteClientState) => void): this;
  override on(event: 'terminated', fn: () => void): this;
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own signature
  override on(event: string | symbol, fn: (...args: any[]) => void): this {
    return super.on(event, fn);
  }

  start(): void {
    this.require('start', ['calling']);
    if (this.started) throw new Error('InviteClientTransaction: already started');
    this.started = true;
    this.transmit(this.request);
    if (!this.ctx.reliable) this.timers.start('A', this.timerAInterval, () => this.timerA());
    this.timers.start('B', 64 * this.ctx.timers.T1, () => this.timerB());
  }

  receiveResponse(res: SipResponse): void {
    if (this.state === 'terminated') return;
    if (this.state === 'completed') {
      // A retransmitted non-2xx final: repeat the ACK, tell nobody (§17.1.1.2).
      if (res.status >= 300 && this.ack) this.transmit(this.ack);
      return;
    }
    if (res.status < 200) {
      if (this.state === 'calling') {
        this.move('proceeding', '1xx', ['calling']);
        // Retransmissions stop once the server answered; Timer B only guards Calling.
        this.timers.stop('A');
        this.timers.stop('B');
      }
      this.emit('response', res);
      return;
    }
    if (res.status < 300) {
      this.emit('response', res);
      this.move('terminated', '2xx', ['calling', 'proceeding']);
      return;
    }
    this.move('completed', 'final', ['calling', 'proceeding']);
    this.timers.stop('A');
    this.timers.stop('B');
    this.ack = createAckForNonSuccess(this.request, res);
    this.transmit(this.ack);
    this.emit('response', res);
    this.startTimer('D', this.ctx.reliable ? 0 : TIMER_D_UNRELIABLE_MS, () => this.timerD());
  }

  /** Retransmit the INVITE, doubling the interval (no T2 cap for INVITE, §17.1.1.2). */
  timerA(): void {
    this.require('Timer A', ['calling']);
    this.transmit(this.request);
    this.timerAInterval *= 2;
    this.timers.start('A', this.timerAInterval, () => this.timerA());
  }

  /** No response within 64*T1. */
  timerB(): void {
    this.move('terminated', 'Timer B', ['calling']);
    this.emit('timeout');
  }

  /** End of the window that absorbs retransmitted finals. */
  timerD(): void {
    this.move('terminated', 'Timer D', ['completed']);
  }
}
