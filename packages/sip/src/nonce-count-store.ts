// Replay protection shared by every server replica (RFC 7616 §3.4, §5.6): the nonce-count of a digest
// response is accepted once, whichever replica sees it first. The engine stays I/O-free; the store is
// injected (a KV bucket in the edge, a Map in tests).

/** One accepted use of a nonce: the nonce and the nonce-count the response was computed with. */
export interface NonceUse {
  nonce: string;
  nc: number;
}

export interface NonceCountStore {
  /**
   * Records `use` and resolves true when no replica accepted it before; false when it did (a replay).
   * Two callers racing on the same use must not both get true (create-if-absent, not read-then-write).
   * Rejects when the store cannot be reached.
   */
  claim(use: NonceUse): Promise<boolean>;
}

/** A store for one process: every (nonce, nc) once, forgotten `lifetimeMs` after its first use. */
export class LocalNonceCountStore implements NonceCountStore {
  private readonly used = new Map<string, number>();

  constructor(
    private readonly lifetimeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(use: NonceUse): Promise<boolean> {
    const t = this.now();
    // Entries are in insertion order, so the expired ones are at the front.
    for (const [key, at] of this.used) {
      if (t - at <= this.lifetimeMs) break;
      this.used.delete(key);
    }
    const key = `${use.nonce}\n${use.nc}`;
    if (this.used.has(key)) return false;
    this.used.set(key, t);
    return true;
  }

  get size(): number {
    return this.used.size;
  }
}
