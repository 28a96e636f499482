import { z } from 'zod';
import type { Bus, BusSubscription } from './bus.js';
import { fallbackLogger, type Logger } from './logging.js';
import {
  type Member,
  type Membership,
  type MembershipClock,
  membersSubject,
  systemClock,
} from './membership.js';
import { assertValidSubject } from './subject.js';

/** Heartbeats missed before a member is dropped. */
export const MISSED_HEARTBEATS = 3;

const memberSchema = z.object({
  id: z.string().min(1),
  service: z.string().min(1),
  address: z.string(),
  meta: z.record(z.string(), z.string()),
});

/** What travels on pubsub.members.<service>, as JSON. */
const membershipMessage = z.discriminatedUnion('type', [
  /** "I am here": sent every interval, and at once in reply to a probe. */
  z.object({ type: z.literal('announce'), member: memberSchema, intervalMs: z.number().int().positive() }),
  /** "I am leaving": drop me now rather than after the expiry. */
  z.object({ type: z.literal('leave'), id: z.string().min(1) }),
  /** "Who is there?": a process that just started asks the replicas of this service to announce. */
  z.object({ type: z.literal('probe'), from: z.string() }),
]);
type MembershipMessage = z.infer<typeof membershipMessage>;

interface Known {
  member: Member;
  lastSeen: number;
  /** The sender's own heartbeat interval, so expiry follows its pace, not ours. */
  intervalMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function sameMember(a: Member, b: Member): boolean {
  if (a.address !== b.address || a.service !== b.service) return false;
  const ak = Object.keys(a.meta);
  return ak.length === Object.keys(b.meta).length && ak.every((k) => a.meta[k] === b.meta[k]);
}

export interface BusMembershipOptions {
  bus: Bus;
  self?: Member;
  /** Services whose members to track. */
  watch: string[];
  /** Heartbeat period; default 2000 ms. */
  intervalMs?: number;
  clock?: MembershipClock;
  logger?: Logger;
}

/**
 * Membership from heartbeats on `pubsub.members.<service>` (outside Kubernetes): each member
 * announces itself every interval, expires after 3 missed heartbeats, and is dropped at once when
 * it announces leaving. On start a probe makes the others announce, so a new process learns the
 * cluster within one round trip rather than one interval.
 */
export class BusMembership implements Membership {
  readonly self: Member | undefined;
  private readonly bus: Bus;
  private readonly intervalMs: number;
  private readonly clock: MembershipClock;
  private readonly logger: Logger;
  private readonly known = new Map<string, Map<string, Known>>();
  private readonly listeners = new Set<(service: string) => void>();
  private subscriptions: BusSubscription[] = [];
  private timer: unknown;
  private running = false;
  /** When our own last announcement came back over the bus: if it stops, the bus (not everyone) is down. */
  private lastEcho = 0;
  private deaf = false;

  constructor(opts: BusMembershipOptions) {
    this.bus = opts.bus;
    this.self = opts.self ? { ...opts.self, meta: { ...opts.self.meta } } : undefined;
    this.intervalMs = opts.intervalMs ?? 2000;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? fallbackLogger();
    for (const service of opts.watch) {
      assertValidSubject(membersSubject(service), false);
      this.known.set(service, new Map());
    }
    if (this.self) assertValidSubject(membersSubject(this.self.service), false);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const subjects = new Set(this.known.keys());
    if (this.self) subjects.add(this.self.service);
    for (const service of subjects) {
      this.subscriptions.push(
        this.bus.subscribe(membersSubject(service), (msg) => this.receive(service, msg.data)),
      );
    }
    // Make sure the server has our subscriptions before asking others to announce.
    await this.bus.flush();
    if (this.self) {
      this.lastEcho = this.clock.now();
      this.upsert(this.self, this.intervalMs);
      this.announce();
    }
    for (const service of this.known.keys()) this.send(service, { type: 'probe', from: this.self?.id ?? '' });
    this.timer = this.clock.setInterval(() => this.tick(), this.intervalMs);
    await this.bus.flush();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clock.clearInterval(this.timer);
    if (this.self) this.send(this.self.service, { type: 'leave', id: this.self.id });
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.subscriptions = [];
    try {
      await this.bus.flush();
    } catch (err) {
      this.logger.warn({ err }, 'could not flush the leave announcement');
    }
    for (const members of this.known.values()) members.clear();
  }

  members(service: string): Member[] {
    const members = this.known.get(service);
    if (!members) return [];
    return [...members.values()]
      .map((k) => k.member)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  on(event: 'change', fn: (service: string) => void): void {
    if (event === 'change') this.listeners.add(fn);
  }

  off(event: 'change', fn: (service: string) => void): void {
    if (event === 'change') this.listeners.delete(fn);
  }

  private tick(): void {
    if (this.self) this.announce();
    const now = this.clock.now();
    // Our own heartbeats no longer come back: our connection to the bus is down, and silence from the
    // others says nothing about them. Keep them (their gRPC channels still tell who is reachable) rather
    // than dropping everyone and waiting a heartbeat round for them after the bus returns.
    const deaf = this.self !== undefined && now - this.lastEcho > MISSED_HEARTBEATS * this.intervalMs;
    if (deaf !== this.deaf) {
      this.deaf = deaf;
      if (deaf)
        this.logger.warn('own heartbeats not coming back over the bus: keeping members until it returns');
      else this.logger.info('own heartbeats back: member expiry resumes');
    }
    if (deaf) return;
    for (const [service, members] of this.known) {
      let changed = false;
      for (const [id, k] of members) {
        if (id === this.self?.id && service === this.self.service) continue; // we know we are alive
        if (now - k.lastSeen > MISSED_HEARTBEATS * k.intervalMs) {
          members.delete(id);
          changed = true;
          this.logger.info({ service, member: id }, 'member expired');
        }
      }
      if (changed) this.emit(service);
    }
  }

  private announce(): void {
    if (!this.self) return;
    this.send(this.self.service, { type: 'announce', member: this.self, intervalMs: this.intervalMs });
  }

  private send(service: string, message: MembershipMessage): void {
    try {
      this.bus.publish(membersSubject(service), encoder.encode(JSON.stringify(message)));
    } catch (err) {
      // A disconnected bus must not stop the heartbeat timer; the next tick tries again.
      this.logger.warn({ err, service }, 'membership publish failed');
    }
  }

  private receive(service: string, data: Uint8Array): void {
    if (!this.running) return;
    let message: MembershipMessage;
    try {
      const parsed = membershipMessage.safeParse(JSON.parse(decoder.decode(data)));
      if (!parsed.success) throw parsed.error;
      message = parsed.data;
    } catch (err) {
      this.logger.warn({ err, service }, 'ignoring malformed membership message');
      return;
    }
    switch (message.type) {
      case 'probe':
        if (this.self && this.self.service === service && message.from !== this.self.id) this.announce();
        return;
      case 'announce':
        if (message.member.service !== service) return;
        if (message.member.id === this.self?.id) this.lastEcho = this.clock.now();
        this.upsert(message.member, message.intervalMs);
        return;
      case 'leave': {
        const members = this.known.get(service);
        if (members?.delete(message.id)) {
          this.logger.info({ service, member: message.id }, 'member left');
          this.emit(service);
        }
        return;
      }
    }
  }

  private upsert(member: Member, intervalMs: number): void {
    const members = this.known.get(member.service);
    if (!members) return;
    const previous = members.get(member.id);
    members.set(member.id, { member, lastSeen: this.clock.now(), intervalMs });
    if (!previous) {
      this.logger.info(
        { service: member.service, member: member.id, address: member.address },
        'member joined',
      );
      this.emit(member.service);
    } else if (!sameMember(previous.member, member)) {
      this.emit(member.service);
    }
  }

  private emit(service: string): void {
    for (const fn of this.listeners) {
      try {
        fn(service);
      } catch (err) {
        this.logger.error({ err, service }, 'membership change listener threw');
      }
    }
  }
}
