// RTP ports of the configured range, handed out round-robin so a released port is not reused at once
// (late packets of the old leg would otherwise reach the new one). Each port in use remembers its owner
// (a leg id), so a late or repeated release by a leg that no longer holds it cannot free another leg's.
export class PortPool {
  private next: number;
  private readonly used = new Map<number, string>();

  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {
    this.next = min;
  }

  /** Calls `tryBind` on free ports in turn until one binds; throws when the range is exhausted. */
  async acquire(tryBind: (port: number) => Promise<boolean>, owner = ''): Promise<number> {
    const size = this.max - this.min + 1;
    for (let i = 0; i < size; i++) {
      const port = this.next;
      this.next = port === this.max ? this.min : port + 1;
      if (this.used.has(port)) continue;
      // Taken before the bind is tried, so a concurrent acquire cannot pick the same port meanwhile.
      this.used.set(port, owner);
      let bound = false;
      try {
        bound = await tryBind(port);
      } finally {
        if (!bound) this.used.delete(port);
      }
      if (bound) return port;
    }
    throw new Error(`no free RTP port in ${this.min}-${this.max}`);
  }

  /** Frees `port` if `owner` holds it (any holder when owner is omitted); returns whether it was freed. */
  release(port: number, owner?: string): boolean {
    const holder = this.used.get(port);
    if (holder === undefined || (owner !== undefined && holder !== owner)) return false;
    this.used.delete(port);
    return true;
  }

  get inUse(): number {
    return this.used.size;
  }

  /** Whether `port` is handed out now. */
  holds(port: number): boolean {
    return this.used.has(port);
  }
}
