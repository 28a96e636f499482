import {
  type DigestAlgorithm,
  type DigestCredentials,
  DigestNonceIssuer,
  formatDigestChallenge,
  parseAuthParams,
  parseDigestCredentials,
  verifyDigestCredentials,
} from './digest.js';
import type { DigestCredentialsStore } from './digest-credentials-store.js';
import { SipParseError } from './errors.js';
import { getHeaders } from './headers.js';
import type { HeaderField, SipRequest } from './message.js';
import type { NonceCountStore, NonceUse } from './nonce-count-store.js';
import type { Now } from './token-bucket.js';

export type AuthOutcome =
  | { kind: 'authenticated'; username: string; nonceUse?: NonceUse }
  /** Send `status` with `headers` (401 + WWW-Authenticate challenges, or 400 for malformed credentials). */
  | { kind: 'rejected'; status: number; reason: string; headers: HeaderField[] };

export interface DigestAuthenticatorOptions {
  realm: string;
  store: DigestCredentialsStore;
  /** Shared by every replica so a nonce issued by one verifies on another; random when absent. */
  secret: Buffer | string;
  nonceLifetimeMs?: number;
  now?: Now;
  /** Challenge algorithms in order of preference (RFC 8760 §2.4: strongest first). */
  algorithms?: readonly DigestAlgorithm[];
  /** Methods let through unchallenged besides ACK and CANCEL (e.g. OPTIONS keep-alive pings). */
  exemptMethods?: readonly string[];
  /**
   * Nonce-counts accepted by any replica (checked by `claim` after `authenticate`). Without it only this
   * process's counts guard against replay, and a replay through another replica is accepted.
   */
  nonceCounts?: NonceCountStore;
}

/**
 * Server side of SIP digest (RFC 3261 §22.4, RFC 8760): challenges with a stateless nonce per algorithm and
 * qop=auth, accepts credentials whose nonce is fresh and whose nonce-count grows (replays are challenged
 * again), answers stale=TRUE when a correct response used an expired nonce. ACK and CANCEL are never
 * challenged (§22.1): callers pass them through.
 */
export class DigestAuthenticator {
  private readonly issuer: DigestNonceIssuer;
  private readonly now: Now;
  private readonly lifetimeMs: number;
  private readonly algorithms: readonly DigestAlgorithm[];
  /** nonce → highest nonce-count accepted and when the nonce was first used (for forgetting it). */
  private readonly counts = new Map<string, { nc: number; firstUse: number }>();

  constructor(private readonly opts: DigestAuthenticatorOptions) {
    this.now = opts.now ?? Date.now;
    this.lifetimeMs = opts.nonceLifetimeMs ?? 300_000;
    this.issuer = new DigestNonceIssuer(opts.secret, this.lifetimeMs, this.now);
    this.algorithms = opts.algorithms ?? ['SHA-256', 'MD5'];
  }

  /** §22.1: ACK and CANCEL cannot be resubmitted with credentials, so they are never challenged. */
  exempt(method: string): boolean {
    return method === 'ACK' || method === 'CANCEL' || (this.opts.exemptMethods?.includes(method) ?? false);
  }

  /** `username` is '' for an exempt method. */
  authenticate(req: SipRequest): AuthOutcome {
    if (this.exempt(req.method)) return { kind: 'authenticated', username: '' };
    this.forgetOld();
    let stale = false;
    for (const value of getHeaders(req, 'Authorization')) {
      let creds: DigestCredentials;
      try {
        // An unknown scheme is not ours to judge (RFC 4475 §3.3.7): it just earns a challenge.
        if (parseAuthParams(value).scheme.toLowerCase() !== 'digest') continue;
        creds = parseDigestCredentials(value);
      } catch (err) {
        const why = err instanceof SipParseError ? err.message : 'Malformed Authorization header';
        return { kind: 'rejected', status: 400, reason: why, headers: [] };
      }
      if (creds.realm !== this.opts.realm) continue;
      const verdict = this.check(req, creds);
      if (verdict === 'ok') {
        const outcome: AuthOutcome = { kind: 'authenticated', username: creds.username };
        if (this.opts.nonceCounts)
          outcome.nonceUse = { nonce: creds.nonce, nc: Number.parseInt(creds.nc ?? '', 16) };
        return outcome;
      }
      if (verdict === 'stale') stale = true;
      if (verdict === 'bad-uri')
        return {
          kind: 'rejected',
          status: 400,
          reason: 'Authorization uri does not match the Request-URI',
          headers: [],
        };
    }
    return this.challenge(stale);
  }

  /**
   * Second step for an `authenticated` outcome carrying a `nonceUse`: claims it in the shared store. Null
   * when this is its first use anywhere; a fresh challenge when some replica already accepted it (a
   * replayed Authorization, RFC 7616 §5.6). Rejects when the store is unreachable (the caller refuses).
   */
  async claim(outcome: AuthOutcome): Promise<AuthOutcome | null> {
    if (outcome.kind !== 'authenticated' || !outcome.nonceUse || !this.opts.nonceCounts) return null;
    return (await this.opts.nonceCounts.claim(outcome.nonceUse)) ? null : this.challenge();
  }

  /** A fresh 401 challenge: one WWW-Authenticate per algorithm, preferred first. */
  challenge(stale = false): AuthOutcome {
    const nonce = this.issuer.issue(this.opts.realm);
    const headers = this.algorithms.map((algorithm) => ({
      name: 'WWW-Authenticate',
      value: formatDigestChallenge({ realm: this.opts.realm, nonce, algorithm, qop: ['auth'], stale }),
    }));
    return { kind: 'rejected', status: 401, reason: 'Unauthorized', headers };
  }

  private check(req: SipRequest, creds: DigestCredentials): 'ok' | 'stale' | 'bad-uri' | 'fail' {
    const algorithm = creds.algorithm ?? 'MD5';
    if (!this.algorithms.includes(algorithm)) return 'fail';
    // qop=auth is required: without it there is no nonce-count and so no replay protection.
    if (creds.qop !== 'auth' || creds.nc === undefined || !/^[0-9a-fA-F]{8}$/.test(creds.nc) || !creds.cnonce)
      return 'fail';
    if (creds.uri !== req.uri) return 'bad-uri';
    const ha1 = this.opts.store.ha1(creds.username, algorithm);
    if (ha1 === undefined) return 'fail';
    const nonceState = this.issuer.check(creds.nonce, this.opts.realm);
    if (nonceState === 'invalid') return 'fail';
    if (!verifyDigestCredentials(req, creds, ha1)) return 'fail';
    if (nonceState === 'stale') return 'stale';
    const nc = Number.parseInt(creds.nc, 16);
    const used = this.counts.get(creds.nonce);
    if (used && nc <= used.nc) return 'fail'; // replayed or reordered nonce-count
    this.counts.set(creds.nonce, { nc, firstUse: used?.firstUse ?? this.now() });
    return 'ok';
  }

  /** Nonces older than their lifetime are stale anyway, so their counts need not be kept. */
  private forgetOld(): void {
    const t = this.now();
    for (const [nonce, entry] of this.counts) {
      if (t - entry.firstUse <= this.lifetimeMs) break;
      this.counts.delete(nonce);
    }
  }
}
