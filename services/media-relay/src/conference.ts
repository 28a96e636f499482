// A conference as one relay sees it: the legs it hosts here, sorted by how they take media, and the bus
// subscription that brings the publications of the conference's publishers on other relays. It owns
// both: close() closes every leg and leaves the subject. The relay core closes a conference when its
// last leg goes and no allocation for it is still under way.
import type { Leg, LegOwner } from './leg.js';

/** What the conference holds on the bus (a BusSubscription). */
export interface ConferenceSubscription {
  unsubscribe(): void;
}

export class Conference implements LegOwner {
  readonly legs = new Map<string, Leg>();
  /** Subscriber legs in translate mode, and legs taking whole lines (mix, aggregate): the fan-out lists. */
  translateSubscribers: Leg[] = [];
  lineSubscribers: Leg[] = [];
  /** Allocations for this conference under way (joined the subject, leg not added yet). */
  pending = 0;
  closed = false;
  private subscription: ConferenceSubscription | undefined;

  constructor(readonly id: string) {}

  /** Joins the conference's subject once; later calls keep the first subscription. */
  subscribe(open: () => ConferenceSubscription): void {
    if (this.closed || this.subscription) return;
    this.subscription = open();
  }

  get subscribed(): boolean {
    return this.subscription !== undefined;
  }

  add(leg: Leg): void {
    const before = this.legs.get(leg.options.legId);
    if (before && before !== leg) before.close();
    this.legs.set(leg.options.legId, leg);
    leg.owner = this;
    this.sort();
  }

  /** Takes the leg out and closes it. */
  remove(leg: Leg): void {
    if (this.legs.get(leg.options.legId) !== leg) return;
    this.legs.delete(leg.options.legId);
    leg.close();
    this.sort();
  }

  get empty(): boolean {
    return this.legs.size === 0 && this.pending === 0;
  }

  legChanged(): void {
    this.sort();
  }

  /** Closes every leg and leaves the subject. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const leg of this.legs.values()) leg.close();
    this.legs.clear();
    this.translateSubscribers = [];
    this.lineSubscribers = [];
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  // Rebuilt on membership or role changes only (rare), so the per-packet loops walk plain arrays.
  private sort(): void {
    const translate: Leg[] = [];
    const lines: Leg[] = [];
    for (const leg of this.legs.values()) {
      if (leg.translates) translate.push(leg);
      else if (leg.takesLines) lines.push(leg);
    }
    this.translateSubscribers = translate;
    this.lineSubscribers = lines;
  }
}
