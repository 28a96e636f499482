import {
  assertValidHeaders,
  type Bus,
  BusClosedError,
  type BusMessage,
  type BusSubscription,
} from './bus.js';
import { fallbackLogger, type Logger } from './logging.js';
import { assertValidSubject, hasWildcard, subjectMatches } from './subject.js';

interface Sub {
  pattern: string;
  handler: (msg: BusMessage) => void;
  active: boolean;
}

/**
 * The bus of the embedded broker: same semantics as NATS core within one process. Delivery is
 * asynchronous (a microtask per message and subscriber) so publishers never re-enter handlers,
 * and in publish order per subscription. A queue group hands each message to one matching member, in turn.
 */
export class InProcessBus implements Bus {
  private readonly exact = new Map<string, Set<Sub>>();
  private readonly wildcard = new Set<Sub>();
  /** Queue subscriptions by queue name; like NATS, a message goes to one matching member per name. */
  private readonly queues = new Map<string, Sub[]>();
  private readonly turn = new Map<string, number>();
  private readonly logger: Logger;
  private closed = false;

  constructor(opts: { logger?: Logger } = {}) {
    this.logger = opts.logger ?? fallbackLogger();
  }

  publish(subject: string, data: Uint8Array, headers: Record<string, string> = {}): void {
    if (this.closed) throw new BusClosedError();
    assertValidSubject(subject, false);
    assertValidHeaders(headers);
    // Copy so the publisher may reuse its buffer, as it could after a NATS publish.
    const msg: BusMessage = { subject, data: data.slice(), headers: { ...headers } };
    for (const sub of this.exact.get(subject) ?? []) this.deliver(sub, msg);
    for (const sub of this.wildcard) if (subjectMatches(sub.pattern, subject)) this.deliver(sub, msg);
    for (const [queue, members] of this.queues) {
      const matching = members.filter((m) => subjectMatches(m.pattern, subject));
      if (matching.length === 0) continue;
      const turn = this.turn.get(queue) ?? 0;
      this.turn.set(queue, turn + 1);
      this.deliver(matching[turn % matching.length], msg);
    }
  }

  subscribe(
    subject: string,
    handler: (msg: BusMessage) => void,
    opts: { queue?: string } = {},
  ): BusSubscription {
    if (this.closed) throw new BusClosedError();
    assertValidSubject(subject, true);
    const sub: Sub = { pattern: subject, handler, active: true };
    let remove: () => void;
    if (opts.queue !== undefined) {
      const queue = opts.queue;
      this.queues.set(queue, [...(this.queues.get(queue) ?? []), sub]);
      remove = () => {
        const rest = (this.queues.get(queue) ?? []).filter((m) => m !== sub);
        if (rest.length > 0) this.queues.set(queue, rest);
        else {
          this.queues.delete(queue);
          this.turn.delete(queue);
        }
      };
    } else if (hasWildcard(subject)) {
      this.wildcard.add(sub);
      remove = () => this.wildcard.delete(sub);
    } else {
      let set = this.exact.get(subject);
      if (!set) {
        set = new Set();
        this.exact.set(subject, set);
      }
      const s = set;
      s.add(sub);
      remove = () => {
        s.delete(sub);
        if (s.size === 0) this.exact.delete(subject);
      };
    }
    return {
      unsubscribe: () => {
        if (!sub.active) return;
        sub.active = false;
        remove();
      },
    };
  }

  async flush(): Promise<void> {
    // A macrotask runs only after every queued delivery microtask (and those they queue).
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.wildcard, ...[...this.exact.values()].flatMap((s) => [...s])];
    for (const members of this.queues.values()) all.push(...members);
    for (const sub of all) sub.active = false;
    this.exact.clear();
    this.wildcard.clear();
    this.queues.clear();
  }

  private deliver(sub: Sub, msg: BusMessage): void {
    queueMicrotask(() => {
      if (!sub.active) return;
      try {
        sub.handler(msg);
      } catch (err) {
        this.logger.error({ err, subject: msg.subject }, 'bus handler threw');
      }
    });
  }
}
