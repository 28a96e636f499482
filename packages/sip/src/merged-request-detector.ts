import { parseCSeq } from './cseq.js';
import { getHeader } from './headers.js';
import type { SipRequest } from './message.js';
import { parseNameAddr } from './name-addr.js';
import type { Now } from './token-bucket.js';

/**
 * RFC 3261 §8.2.2.2: a request without To tag whose From tag, Call-ID and CSeq match one seen recently
 * under another transaction reached us twice (forked upstream and merged here); it gets 482.
 * Retransmissions match their server transaction first and never get here as new requests.
 */
export class MergedRequestDetector {
  /** key (From tag, Call-ID, CSeq) → transaction id and when it was first seen; Map order is age order. */
  private readonly seen = new Map<string, { txId: string; at: number }>();

  constructor(
    private readonly now: Now,
    /** How long a request is remembered: the life of a non-INVITE transaction, 64*T1 (Timer F/J). */
    readonly windowMs = 32_000,
    readonly maxEntries = 200_000,
  ) {}

  /** Records the request under `txId`; true when it is a merged copy of another transaction's request. */
  isMerged(req: SipRequest, txId: string): boolean {
    const key = mergeKey(req);
    if (key === undefined) return false;
    const t = this.now();
    this.expire(t);
    const known = this.seen.get(key);
    if (known) return known.txId !== txId;
    if (this.seen.size >= this.maxEntries) {
      const oldest = this.seen.keys().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    this.seen.set(key, { txId, at: t });
    return false;
  }

  get size(): number {
    return this.seen.size;
  }

  private expire(t: number): void {
    for (const [key, entry] of this.seen) {
      if (t - entry.at < this.windowMs) break;
      this.seen.delete(key);
    }
  }
}

/** Undefined for requests the rule does not cover: in-dialog (To tag), ACK, CANCEL, or no From tag. */
function mergeKey(req: SipRequest): string | undefined {
  if (req.method === 'ACK' || req.method === 'CANCEL') return undefined;
  try {
    if (parseNameAddr(getHeader(req, 'To') ?? '').params.tag !== undefined) return undefined;
    const fromTag = parseNameAddr(getHeader(req, 'From') ?? '').params.tag;
    if (typeof fromTag !== 'string') return undefined;
    const cseq = parseCSeq(getHeader(req, 'CSeq') ?? '');
    return `${fromTag}\n${getHeader(req, 'Call-ID') ?? ''}\n${cseq.seq} ${cseq.method}`;
  } catch {
    return undefined;
  }
}
