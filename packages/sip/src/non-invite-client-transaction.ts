import type { SipRequest, SipResponse } from './message.js';
import { Transaction, type TransactionContext } from './transaction.js';

export type NonInviteClientState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/**
 * RFC 3261 §17.1.2 non-INVITE client transaction (Figure 6).
 * Events: 'response', 'timeout' (Timer F), 'transportError', 'stateChange', 'terminated'.
 */
export class NonInviteClientTransaction extends Transaction<NonInviteClientState> {
  private timerEInterval: number;
  private started = false;

  constructor(
    readonly request: SipRequest,
    readonly id: string,
    ctx: TransactionContext,
  ) {
    super('trying', ctx);
    this.timerEInterval = ctx.timers.T1;
  }

  protected get machine(): string {
    return 'NonInviteClientTransaction';
  }

  override on(event: 'response', fn: (res: SipResponse) => void): this;
  override on(event: 'timeout', fn: () => void): this;
  override on(event: 'transportError', fn: (err: Error) => void): this;
  override on(event: 'stateChange', fn: (state: NonInviteClientState) => void): this;
  override on(event: 'terminated', fn: () => void): this;
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own signature
  override on(event: string | symbol, fn: (...args: any[]) => void): this {
    return super.on(event, fn);
  }

  start(): void {
    this.require('start', ['trying']);
    if (this.started) throw new Error('NonInviteClientTransaction: already started');
    this.started = true;
    this.transmit(this.request);
    if (!this.ctx.reliable) this.timers.start('E', this.timerEInterval, () => this.timerE());
    this.timers.start('F', 64 * this.ctx.timers.T1, () => this.timerF());
  }

  receiveResponse(res: SipResponse): void {
    if (this.state === 'completed' || this.state === 'terminated') return; // retransmitted finals are absorbed
    if (res.status < 200) {
      if (this.state === 'trying') this.move('proceeding', '1xx', ['trying']);
      this.emit('response', res);
      return;
    }
    this.move('completed', 'final', ['trying', 'proceeding']);
    this.timers.stop('E');
    this.timers.stop('F');
    this.emit('response', res);
    this.startTimer('K', this.ctx.reliable ? 0 : this.ctx.timers.T4, () => this.timerK());
  }

  /** Retransmit: doubling up to T2 in Trying, every T2 in Proceeding (§17.1.2.2). */
  timerE(): void {
    this.require('Timer E', ['trying', 'proceeding']);
    this.transmit(this.request);
    this.timerEInterval =
      this.state === 'trying' ? Math.min(2 * this.timerEInterval, this.ctx.timers.T2) : this.ctx.timers.T2;
    this.timers.start('E', this.timerEInterval, () => this.timerE());
  }

  /** No final response within 64*T1. */
  timerF(): void {
    this.move('terminated', 'Timer F', ['trying', 'proceeding']);
    this.emit('timeout');
  }

  /** End of the window that absorbs retransmitted finals. */
  timerK(): void {
    this.move('terminated', 'Timer K', ['completed']);
  }
}
