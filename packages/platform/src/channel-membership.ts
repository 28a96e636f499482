// Membership checked against the gRPC channels this process holds to the members (issue 7, defect 6).
// Heartbeats take seconds to notice a dead replica; the channel to it notices at once (a killed process's
// connections are reset), and keeps noticing while it is unreachable. A member whose channel is in
// TRANSIENT_FAILURE is left out of members() until the channel is READY again, and every such change is
// emitted as a membership change, so the relay failover and the edge's routing react within
// milliseconds of a replica's death rather than after three missed heartbeats.
import type { ChannelState, GrpcClientPool } from './grpc.js';
import { fallbackLogger, type Logger } from './logging.js';
import type { Member, Membership } from './membership.js';

// biome-ignore lint/suspicious/noExplicitAny: pools of any generated client class
type AnyPool = GrpcClientPool<any>;

const FAILED: ReadonlySet<ChannelState | undefined> = new Set(['transient-failure', 'shutdown']);

/** How often channels of members that are down or idle are asked to connect (grpc-js may wait otherwise). */
export const RECONNECT_CHECK_MS = 250;

export class ChannelCheckedMembership implements Membership {
  private readonly listeners = new Set<(service: string) => void>();
  /** Per service with a pool: member id → whether it was left out at the last look. */
  private readonly excluded = new Map<string, Map<string, boolean>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly inner: Membership,
    private readonly pools: Readonly<Record<string, AnyPool>>,
    private readonly logger: Logger = fallbackLogger(),
  ) {
    for (const service of Object.keys(pools)) this.excluded.set(service, new Map());
    inner.on('change', (service) => {
      this.sync(service, true);
      this.emit(service);
    });
    for (const [service, pool] of Object.entries(pools)) {
      pool.onState((address) => {
        if (this.inner.members(service).some((m) => m.address === address) && this.sync(service, false))
          this.emit(service);
      });
    }
  }

  get self(): Member | undefined {
    return this.inner.self;
  }

  async start(): Promise<void> {
    await this.inner.start();
    for (const service of Object.keys(this.pools)) this.sync(service, true);
    this.timer = setInterval(() => {
      for (const [service, pool] of Object.entries(this.pools))
        for (const m of this.inner.members(service)) {
          const state = pool.state(m.address);
          if (state !== 'ready' && state !== 'connecting') pool.state(m.address, true);
        }
    }, RECONNECT_CHECK_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inner.stop();
  }

  /** Members whose channel is not known to be failing (all members of services without a pool). */
  members(service: string): Member[] {
    const pool = this.pools[service];
    const members = this.inner.members(service);
    if (!pool) return members;
    return members.filter((m) => !FAILED.has(pool.state(m.address)));
  }

  /** The state of the channel to a member of a service with a pool. */
  channelState(service: string, member: Member): ChannelState | undefined {
    return this.pools[service]?.state(member.address);
  }

  on(event: 'change', fn: (service: string) => void): void {
    if (event === 'change') this.listeners.add(fn);
  }

  /**
   * Opens (or, for a member that has just appeared with a failing channel, renews) the channel to every
   * member and records who is left out; true when that set changed.
   */
  private sync(service: string, membershipChanged: boolean): boolean {
    const pool = this.pools[service];
    const excluded = this.excluded.get(service);
    if (!pool || !excluded) return false;
    const members = this.inner.members(service);
    let changed = false;
    const current = new Set<string>();
    for (const m of members) {
      current.add(m.id);
      const known = excluded.has(m.id);
      if (pool.state(m.address) === undefined) pool.get(m.address);
      // A replica that (re)joins while our channel to its address is in reconnect backoff: start afresh.
      if (membershipChanged && !known && FAILED.has(pool.state(m.address))) pool.renew(m.address);
      const out = FAILED.has(pool.state(m.address, true));
      if (excluded.get(m.id) !== out) {
        if (known || out) changed = true;
        if (known)
          this.logger.info(
            { service, member: m.id, channel: pool.state(m.address) },
            out ? 'member unreachable: left out of routing' : 'member reachable again',
          );
        excluded.set(m.id, out);
      }
    }
    for (const id of [...excluded.keys()]) if (!current.has(id)) excluded.delete(id);
    return changed;
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
