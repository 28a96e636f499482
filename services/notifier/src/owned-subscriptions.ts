// The subscriptions one notifier replica owns, with their expiry times, findable by resource in memory
// (so delivering a change to a resource's watchers reads no bucket listing).

/** Subscription key (`<resourceKey>.<id>`) → expiry time, indexed by resource key. */
export class OwnedSubscriptions extends Map<string, number> {
  private readonly byResource = new Map<string, Set<string>>();
  /** Resources with subscriptions here for which `counts` says yes (kept as they come and go). */
  private counted = 0;

  /**
   * `onDelete` hears of every key that goes, whichever way it goes; `counts` picks the resources that
   * `countedResources` counts.
   */
  constructor(
    private readonly onDelete?: (key: string) => void,
    private readonly counts?: (resourceKey: string) => boolean,
  ) {
    super();
  }

  /** How many resources `counts` picked have a subscription here. */
  get countedResources(): number {
    return this.counted;
  }

  override set(key: string, expiresAt: number): this {
    super.set(key, expiresAt);
    // Map's constructor calls set before the field exists.
    if (!this.byResource) return this;
    const resource = resourceOf(key);
    let keys = this.byResource.get(resource);
    if (!keys) {
      keys = new Set();
      this.byResource.set(resource, keys);
      if (this.counts?.(resource)) this.counted++;
    }
    keys.add(key);
    return this;
  }

  override delete(key: string): boolean {
    const resource = resourceOf(key);
    const keys = this.byResource.get(resource);
    if (keys) {
      keys.delete(key);
      if (keys.size === 0) {
        this.byResource.delete(resource);
        if (this.counts?.(resource)) this.counted--;
      }
    }
    this.onDelete?.(key);
    return super.delete(key);
  }

  override clear(): void {
    this.byResource.clear();
    this.counted = 0;
    super.clear();
  }

  /** Keys of the subscriptions to `resourceKey` this replica owns. */
  keysOf(resourceKey: string): string[] {
    return [...(this.byResource.get(resourceKey) ?? [])];
  }
}

function resourceOf(key: string): string {
  const dot = key.indexOf('.');
  return dot < 0 ? key : key.slice(0, dot);
}
