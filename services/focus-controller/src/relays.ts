// Relay placement (DESIGN.md "Media sharding"): a conference's legs go to the top-k relays of its
// rendezvous ranking over the ready media-relay replicas; k = 1 until the conference's load, as the
// relays report it on pubsub.load.<relayId>, passes a threshold, then one more relay per threshold.
import type { Bus, BusSubscription, GrpcClientPool, Membership } from '@sip-pubsub/platform';
import { rendezvousRank, unary } from '@sip-pubsub/platform';
import {
  decodeEvent,
  type LegAllocation__Output,
  type LegSpec,
  type MediaRelayClient,
  type RelayLoad,
  type ReleaseLegResponse__Output,
  relayLoadSchema,
  subjects,
} from '@sip-pubsub/proto';

export const RELAY_SERVICE = 'media-relay';

export class NoRelayAvailableError extends Error {
  constructor() {
    super('no media-relay replica is ready');
    this.name = 'NoRelayAvailableError';
  }
}

export interface PlacedLeg {
  relayId: string;
  relayAddress: string;
  host: string;
  port: number;
}

/** How the focus reaches relays; an interface so the focus logic is tested without gRPC. */
export interface RelayDirectory {
  allocate(spec: LegSpec): Promise<PlacedLeg>;
  update(relayAddress: string, spec: LegSpec): Promise<void>;
  release(relayAddress: string, conferenceId: string, legId: string): Promise<boolean>;
}

/** Legs of each conference per relay, from the relays' load reports plus the placements made since. */
export class RelayLoadView {
  private readonly reports = new Map<string, { report: RelayLoad; legs: Map<string, number> }>();
  /** Placements made here after the relay's last report: relayId → conferenceId → legs. */
  private readonly placed = new Map<string, Map<string, number>>();
  private subscription: BusSubscription | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** Follows pubsub.load.* on the bus. */
  follow(bus: Bus): this {
    this.subscription = bus.subscribe(subjects.load('*'), (msg) => {
      const parsed = decodeEvent(relayLoadSchema, msg.data);
      if (parsed.ok) this.onReport(parsed.value);
    });
    return this;
  }

  onReport(report: RelayLoad): void {
    this.reports.set(report.relayId, {
      report,
      legs: new Map(report.conferences.map((c) => [c.conferenceId, c.legs])),
    });
    this.placed.delete(report.relayId);
  }

  notePlacement(relayId: string, conferenceId: string): void {
    let byConference = this.placed.get(relayId);
    if (!byConference) {
      byConference = new Map();
      this.placed.set(relayId, byConference);
    }
    byConference.set(conferenceId, (byConference.get(conferenceId) ?? 0) + 1);
  }

  /** Legs of `conferenceId` on `relayId`; a report older than three of its periods counts as absent. */
  legsOn(relayId: string, conferenceId: string): number {
    const entry = this.reports.get(relayId);
    const fresh = entry && this.now() - entry.report.at <= entry.report.intervalMs * 3;
    return (
      (fresh ? (entry.legs.get(conferenceId) ?? 0) : 0) + (this.placed.get(relayId)?.get(conferenceId) ?? 0)
    );
  }

  close(): void {
    this.subscription?.unsubscribe();
  }
}

export interface PlacementOptions {
  load?: RelayLoadView;
  /** Legs of one conference per relay before it spreads to the next relay of its ranking. */
  legsPerRelay?: number;
}

/** How many relays a conference of `legs` legs is spread over: k = 1 until it passes the threshold. */
export function relaysFor(legs: number, legsPerRelay: number, available: number): number {
  return Math.max(1, Math.min(available, Math.floor(legs / legsPerRelay) + 1));
}

/** Orders candidates for a new leg: the top-k of the ranking, least loaded (in this conference) first, then the rest. */
export function placementOrder(
  ranked: string[],
  legsOn: (relayId: string) => number,
  legsPerRelay: number,
): string[] {
  const total = ranked.reduce((n, id) => n + legsOn(id), 0);
  const k = relaysFor(total, legsPerRelay, ranked.length);
  const top = ranked.slice(0, k).map((id, rank) => ({ id, rank, legs: legsOn(id) }));
  top.sort((a, b) => a.legs - b.legs || a.rank - b.rank);
  return [...top.map((t) => t.id), ...ranked.slice(k)];
}

export class GrpcRelayDirectory implements RelayDirectory {
  constructor(
    private readonly membership: Membership,
    private readonly clients: GrpcClientPool<MediaRelayClient>,
    private readonly deadlineMs: number,
    private readonly placement: PlacementOptions = {},
  ) {}

  async allocate(spec: LegSpec): Promise<PlacedLeg> {
    const relays = this.membership.members(RELAY_SERVICE);
    const conferenceId = spec.conferenceId ?? '';
    const { load, legsPerRelay } = this.placement;
    let ranked = rendezvousRank(
      conferenceId,
      relays.map((r) => r.id),
    );
    if (load && legsPerRelay)
      ranked = placementOrder(ranked, (id) => load.legsOn(id, conferenceId), legsPerRelay);
    // Try in ranking order so a relay that is leaving does not fail the join.
    // Built only when it is thrown: an Error captures a stack trace, a cost on every join otherwise.
    let lastError: unknown;
    for (const id of ranked) {
      const relay = relays.find((r) => r.id === id)!;
      try {
        const allocation = await unary<LegSpec, LegAllocation__Output>(
          this.clients.get(relay.address),
          'AllocateLeg',
          spec,
          this.deadlineMs,
        );
        load?.notePlacement(allocation.relayId || relay.id, conferenceId);
        return {
          relayId: allocation.relayId || relay.id,
          relayAddress: relay.address,
          host: allocation.host,
          port: allocation.port,
        };
      } catch (err) {
        lastError = err;
        // A call that ran out of time may have allocated the leg all the same: give it back (it is
        // idempotent, and the leg id is this dialog's), or its port stays taken for good.
        if (mayHaveAllocated(err))
          this.release(relay.address, conferenceId, spec.legId ?? '').catch(() => false);
      }
    }
    throw lastError ?? new NoRelayAvailableError();
  }

  async update(relayAddress: string, spec: LegSpec): Promise<void> {
    await unary<LegSpec, LegAllocation__Output>(
      this.clients.get(relayAddress),
      'UpdateLeg',
      spec,
      this.deadlineMs,
    );
  }

  async release(relayAddress: string, conferenceId: string, legId: string): Promise<boolean> {
    const res = await unary<object, ReleaseLegResponse__Output>(
      this.clients.get(relayAddress),
      'ReleaseLeg',
      { conferenceId, legId },
      this.deadlineMs,
    );
    return res.released;
  }
}

/** gRPC DEADLINE_EXCEEDED (4) and CANCELLED (1): the relay may have done the work without our seeing the answer. */
function mayHaveAllocated(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 4 || code === 1;
}
