import type { SipRequest, SipResponse } from './message.js';
import { Transaction, type TransactionContext } from './transaction.js';
import type { Flow } from './transport.js';

export type NonInviteServerState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/** RFC 3261 §17.2.2 non-INVITE server transaction (Figure 8). Events: 'transportError', 'stateChange', 'terminated'. */
export class NonInviteServerTransaction extends Transaction<NonInviteServerState> {
  private lastResponse?: SipResponse;

  constructor(
    readonly request: SipRequest,
    readonly flow: Flow,
    readonly id: string,
    ctx: TransactionContext,
  ) {
    super('trying', ctx);
  }

  protected get machine(): string {
    return 'NonInviteServerTransaction';
  }

  override on(event: 'transportError', fn: (err: Error) => void): this;
  override on(event: 'stateChange', fn: (state: NonInviteServerState) => void): this;
  override on(event: 'terminated', fn: () => void): this;
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own signature
  override on(event: string | symbol, fn: (...args: any[]) => void): this {
    return super.on(event, fn);
  }

  respond(res: SipResponse): void {
    this.require('respond', ['trying', 'proceeding']);
    this.lastResponse = res;
    this.transmit(res);
    if (res.status < 200) {
      if (this.state === 'trying') this.move('proceeding', 'respond 1xx', ['trying']);
      return;
    }
    this.move('completed', 'respond final', ['trying', 'proceeding']);
    this.startTimer('J', this.ctx.reliable ? 0 : 64 * this.ctx.timers.T1, () => this.timerJ());
  }

  /** A retransmitted request: absorbed in Trying, answered with the last response afterwards. */
  receiveRequest(_req: SipRequest): void {
    if ((this.state === 'proceeding' || this.state === 'completed') && this.lastResponse)
      this.transmit(this.lastResponse);
  }

  /** End of the window that absorbs request retransmissions. */
  timerJ(): void {
    this.move('terminated', 'Timer J', ['completed']);
  }
}
