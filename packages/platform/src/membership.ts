/** A replica of a service as the others see it. */
export interface Member {
  id: string;
  service: string;
  /** gRPC host:port. */
  address: string;
  meta: Record<string, string>;
}

/** Which replicas of each watched service are ready; feeds rendezvousOwner. */
export interface Membership {
  /** The member this process announces, or undefined for a pure observer. */
  readonly self: Member | undefined;
  start(): Promise<void>;
  /** Announces leaving, so others drop this member at once. */
  stop(): Promise<void>;
  /** Ready members of a watched service, sorted by id. */
  members(service: string): Member[];
  on(event: 'change', fn: (service: string) => void): void;
}

/** Timer source for membership; tests pass a fake one. */
export interface MembershipClock {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const systemClock: MembershipClock = {
  now: () => Date.now(),
  setInterval: (fn, ms) => {
    const handle = setInterval(fn, ms);
    // Heartbeats alone should not keep a process alive.
    handle.unref();
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export function membersSubject(service: string): string {
  return `pubsub.members.${service}`;
}
