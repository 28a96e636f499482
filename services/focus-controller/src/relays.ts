// Relay placement (DESIGN.md "Media sharding"): a conference's legs go to the top-k relays of its
// rendezvous ranking over the ready media-relay replicas. First light places on k = 1.
import type { GrpcClientPool, Membership } from '@sip-pubsub/platform';
import { rendezvousRank, unary } from '@sip-pubsub/platform';
import type { LegAllocation__Output, LegSpec, MediaRelayClient, ReleaseLegResponse__Output } from '@sip-pubsub/proto';

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

export class GrpcRelayDirectory implements RelayDirectory {
  constructor(
    private readonly membership: Membership,
    private readonly clients: GrpcClientPool<MediaRelayClient>,
    private readonly deadlineMs: number,
  ) {}

  async allocate(spec: LegSpec): Promise<PlacedLeg> {
    const relays = this.membership.members(RELAY_SERVICE);
    const ranked = rendezvousRank(spec.conferenceId ?? '', relays.map((r) => r.id));
    // Try in ranking order so a relay that is leaving does not fail the join.
    let lastError: unknown = new NoRelayAvailableError();
    for (const id of ranked) {
      const relay = relays.find((r) => r.id === id)!;
      try {
        const allocation = await unary<LegSpec, LegAllocation__Output>(this.clients.get(relay.address), 'AllocateLeg', spec, this.deadlineMs);
        return { relayId: allocation.relayId || relay.id, relayAddress: relay.address, host: allocation.host, port: allocation.port };
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  async update(relayAddress: string, spec: LegSpec): Promise<void> {
    await unary<LegSpec, LegAllocation__Output>(this.clients.get(relayAddress), 'UpdateLeg', spec, this.deadlineMs);
  }

  async release(relayAddress: string, conferenceId: string, legId: string): Promise<boolean> {
    const res = await unary<object, ReleaseLegResponse__Output>(this.clients.get(relayAddress), 'ReleaseLeg', { conferenceId, legId }, this.deadlineMs);
    return res.released;
  }
}
