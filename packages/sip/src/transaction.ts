import { EventEmitter } from 'node:events';
import type { Clock } from './clock.js';
import { TransactionStateError } from './errors.js';
import type { SipMessage } from './message.js';
import { NamedTimers, type TimerSettings } from './timers.js';

/** What a transaction needs from its owner: time, timer values, and a way to put a message on the wire. */
export interface TransactionContext {
  clock: Clock;
  timers: TimerSettings;
  /** Reliable transports skip retransmissions and zero the wait timers (§17.1.1.2, §17.2.1 ...). */
  reliable: boolean;
  send(msg: SipMessage): Promise<void>;
}

/** Plumbing shared by the four state machines: guarded transitions, named timers, transport errors. */
export abstract class Transaction<S extends string> extends EventEmitter {
  protected readonly timers: NamedTimers;

  protected constructor(
    public state: S,
    protected readonly ctx: TransactionContext,
  ) {
    super();
    this.timers = new NamedTimers(ctx.clock);
  }

  protected abstract get machine(): string;

  /** Moves to `to` if the current state is one of `from`, else throws TransactionStateError. */
  protected move(to: S, action: string, from: readonly S[]): void {
    this.require(action, from);
    this.state = to;
    this.emit('stateChange', to);
    if (to === 'terminated') {
      this.timers.stopAll();
      this.emit('terminated');
    }
  }

  protected require(action: string, allowed: readonly S[]): void {
    if (!allowed.includes(this.state)) throw new TransactionStateError(this.machine, this.state, action);
  }

  /** A zero duration fires at once (timers "set to zero seconds" on reliable transports). */
  protected startTimer(name: string, ms: number, fire: () => void): void {
    if (ms <= 0) fire();
    else this.timers.start(name, ms, fire);
  }

  protected transmit(msg: SipMessage): void {
    this.ctx
      .send(msg)
      .catch((err: unknown) => this.transportError(err instanceof Error ? err : new Error(String(err))));
  }

  /** §17.1.4 / §17.2.4: a transport failure ends the transaction and is reported to the TU. */
  transportError(err: Error): void {
    if (this.state === 'terminated') return;
    this.move('terminated' as S, 'transportError', [this.state]);
    this.emit('transportError', err);
  }

  /** Stops every timer without a transition (owner shutting down). */
  dispose(): void {
    this.timers.stopAll();
  }
}
