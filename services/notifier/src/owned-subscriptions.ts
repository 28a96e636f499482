// The subscriptions one notifier replica owns, with their expiry times, findable by resource in memory
// (so delivering a change to a resource's watchers reads no bucket listing).

/** Subscription key (`<resourceKey>.<id>`) → expiry time, indexed by resource key. */
export class OwnedSubscriptions extends Map<string, number> {
  private readonly byResource = new Map<string, Set<string>>();

  /** `onDelete` hears of every key that goes, whichever way it goes. */
  constructor(private readonly onDelete?: (key: string) => void) {
    super();
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
    }
    keys.add(key);
    return this;
  }

  override delete(key: string): boolean {
    const resource = resourceOf(key);
    const keys = this.byResource.get(resource);
    if (keys) {
      keys.delete(key);
      if (keys.size === 0) this.byResource.delete(resource);
    }
    this.onDelete?.(key);
    return super.delete(key);
  }

  override clear(): void {
    this.byResource.clear();
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
