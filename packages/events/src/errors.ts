/** A conference-info or directory document that cannot be built, parsed or applied. */
export class EventDocumentError extends Error {
  override readonly name: string = 'EventDocumentError';
}

/**
 * A notification whose version does not follow the watcher's view (RFC 4575 §4.6):
 * a partial document must carry exactly the previous version plus one.
 */
export class VersionGapError extends EventDocumentError {
  override readonly name = 'VersionGapError';
  constructor(
    /** The version the watcher expected, or undefined when it holds no view yet. */
    readonly expected: number | undefined,
    readonly received: number,
  ) {
    super('version gap');
  }

  /** True when the update is older than (or a repeat of) the view, rather than ahead of it. */
  get stale(): boolean {
    return this.expected !== undefined && this.received < this.expected;
  }
}

/** A subscription asked to make a move its state machine does not allow (RFC 6665 §4.1.2, §4.2.2). */
export class SubscriptionStateError extends Error {
  override readonly name = 'SubscriptionStateError';
}

/** A publication asked to make a move RFC 3903 §6 does not allow (refresh of removed state, …). */
export class EventStateError extends Error {
  override readonly name = 'EventStateError';
}
