// RTP ports of the configured range, handed out round-robin so a released port is not reused at once
// (late packets of the old leg would otherwise reach the new one).
export class PortPool {
  private next: number;
  private readonly used = new Set<number>();

  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {
    this.next = min;
  }

  /** Calls `tryBind` on free ports in turn until one binds; throws when the range is exhausted. */
  async acquire(tryBind: (port: number) => Promise<boolean>): Promise<number> {
    const size = this.max - this.min + 1;
    for (let i = 0; i < size; i++) {
      const port = this.next;
      this.next = port === this.max ? this.min : port + 1;
      if (this.used.has(port)) continue;
      if (await tryBind(port)) {
        this.used.add(port);
        return port;
      }
    }
    throw new Error(`no free RTP port in ${this.min}-${this.max}`);
  }

  release(port: number): void {
    this.used.delete(port);
  }

  get inUse(): number {
    return this.used.size;
  }
}
