// What the edge decides about a request before routing it (DESIGN.md "signalling-edge"): overload
// (per-source token bucket, global in-flight cap), RFC 3261 §8.2 validation, merged requests (§8.2.2.2),
// and digest authentication. The rules live in packages/sip; this composes them with the edge's policy.

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  DEFAULT_SUPPORTED_OPTION_TAGS,
  DigestAuthenticator,
  DigestCredentialsStore,
  type Flow,
  getHeader,
  type HeaderField,
  isReliable,
  MergedRequestDetector,
  type NonceCountStore,
  type NonceUse,
  type Now,
  parseNameAddr,
  type RequestValidationPolicy,
  type SipRequest,
  SourceRateLimiter,
  validateRequest,
} from '@sip-pubsub/sip';
import type { EdgeConfig } from './config.js';

/**
 * What the broker serves (PROFILE.md OPTIONS answer); NOTIFY is allowed in so routing can answer 481.
 * INFO is not served (no INFO package is defined for a conference), so it gets 405 here.
 */
export const EDGE_ALLOW = [
  'INVITE',
  'ACK',
  'CANCEL',
  'OPTIONS',
  'BYE',
  'REFER',
  'SUBSCRIBE',
  'NOTIFY',
  'PUBLISH',
  'UPDATE',
];

export type Admission =
  /** `nonceUse`: still to be claimed in the shared nonce-count store (DigestAuthenticator.claim). */
  | { kind: 'admit'; username?: string; nonceUse?: NonceUse; release: () => void }
  | { kind: 'refuse'; status: number; reason: string; headers: HeaderField[]; cause: RefusalCause };

export type RefusalCause = 'rate' | 'inflight' | 'invalid' | 'merged' | 'auth';

export interface EdgeAdmissionOptions {
  ratePerSource: { rate: number; burst: number } | null;
  maxInflight: number;
  auth?: DigestAuthenticator;
  /** Merged-request window: 64*T1. */
  mergeWindowMs: number;
  now?: Now;
}

export class EdgeAdmission {
  private readonly limiter?: SourceRateLimiter;
  private readonly merged: MergedRequestDetector;
  private inflight = 0;

  constructor(private readonly opts: EdgeAdmissionOptions) {
    const now = opts.now ?? Date.now;
    if (opts.ratePerSource)
      this.limiter = new SourceRateLimiter(opts.ratePerSource.rate, opts.ratePerSource.burst, now);
    this.merged = new MergedRequestDetector(now, opts.mergeWindowMs);
  }

  get inflightCount(): number {
    return this.inflight;
  }

  /**
   * ACK is never refused (there is no response to send); CANCEL skips the overload and merge checks
   * because it only ends work. `txId` is the server transaction's id (for the merge check).
   */
  admit(req: SipRequest, flow: Flow, txId: string | undefined): Admission {
    if (req.method === 'ACK') return this.admitted();
    if (req.method !== 'CANCEL') {
      const rate = this.limiter?.check(flow.remoteHost);
      if (rate && !rate.allowed)
        return refuse(503, 'Rate Limit Exceeded', 'rate', [
          { name: 'Retry-After', value: String(rate.retryAfterSeconds) },
        ]);
      if (this.inflight >= inflightLimit(req, this.opts.maxInflight))
        return refuse(503, 'Overloaded', 'inflight', [{ name: 'Retry-After', value: '1' }]);
    }
    const policy: RequestValidationPolicy = { ...VALIDATION_POLICY, reliable: isReliable(flow.transport) };
    const invalid = validateRequest(req, policy);
    if (invalid) return refuse(invalid.status, invalid.reason, 'invalid', invalid.headers);
    if (txId !== undefined && this.merged.isMerged(req, txId)) return refuse(482, 'Loop Detected', 'merged');
    let username: string | undefined;
    let nonceUse: NonceUse | undefined;
    if (this.opts.auth) {
      const outcome = this.opts.auth.authenticate(req);
      if (outcome.kind === 'rejected') return refuse(outcome.status, outcome.reason, 'auth', outcome.headers);
      if (outcome.username !== '') username = outcome.username;
      nonceUse = outcome.nonceUse;
    }
    const admitted = this.admitted(username);
    if (nonceUse && admitted.kind === 'admit') admitted.nonceUse = nonceUse;
    return admitted;
  }

  private admitted(username?: string): Admission {
    this.inflight++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.inflight--;
    };
    return username === undefined ? { kind: 'admit', release } : { kind: 'admit', username, release };
  }
}

/** Headroom above the in-flight cap kept for requests within a dialog (a share of the cap). */
export const IN_DIALOG_INFLIGHT_HEADROOM = 0.25;

/** New requests stop at the cap; BYEs, re-INVITEs and refreshes (To tag) may go a quarter beyond it. */
function inflightLimit(req: SipRequest, maxInflight: number): number {
  return hasToTag(req)
    ? maxInflight + Math.max(1, Math.floor(maxInflight * IN_DIALOG_INFLIGHT_HEADROOM))
    : maxInflight;
}

function hasToTag(req: SipRequest): boolean {
  try {
    return typeof parseNameAddr(getHeader(req, 'To') ?? '').params.tag === 'string';
  } catch {
    return false;
  }
}

const VALIDATION_POLICY: RequestValidationPolicy = {
  allowedMethods: EDGE_ALLOW,
  uriSchemes: ['sip', 'sips'],
  // The broker is the final UAS for every request it takes: Max-Forwards 0 is processed (RFC 4475 §3.3.11).
  forwards: false,
  // RFC 4028 session timers are built in the focus (INVITE, re-INVITE, UPDATE to a conference).
  supportedOptionTags: [...DEFAULT_SUPPORTED_OPTION_TAGS, 'timer'],
  // The focus answers offers in SDP; an INVITE body of another type cannot be an offer (§13.2.1).
  acceptedContentTypes: { INVITE: ['application/sdp'], UPDATE: ['application/sdp'] },
  // Its 2xx to INVITE carries the SDP answer, so the caller must accept SDP.
  producedContentTypes: { INVITE: ['application/sdp'] },
};

function refuse(status: number, reason: string, cause: RefusalCause, headers: HeaderField[] = []): Admission {
  return { kind: 'refuse', status, reason, headers, cause };
}

/** The authenticator AUTH_* ask for, or undefined when authentication is off. */
export async function createAuthenticator(
  config: Pick<
    EdgeConfig,
    | 'AUTH_REALM'
    | 'AUTH_CREDENTIALS_FILE'
    | 'AUTH_CREDENTIALS'
    | 'AUTH_NONCE_SECRET'
    | 'AUTH_NONCE_TTL'
    | 'AUTH_EXEMPT_METHODS'
  >,
  nonceCounts?: NonceCountStore,
): Promise<DigestAuthenticator | undefined> {
  const realm = config.AUTH_REALM;
  if (realm === undefined) return undefined;
  const store = new DigestCredentialsStore(realm);
  if (config.AUTH_CREDENTIALS_FILE !== undefined)
    store.add(await readFile(config.AUTH_CREDENTIALS_FILE, 'utf8'), config.AUTH_CREDENTIALS_FILE);
  if (config.AUTH_CREDENTIALS !== undefined)
    store.add(config.AUTH_CREDENTIALS, 'AUTH_CREDENTIALS', /[\r\n,]+/);
  return new DigestAuthenticator({
    realm,
    store,
    secret: config.AUTH_NONCE_SECRET ?? randomBytes(32),
    nonceLifetimeMs: config.AUTH_NONCE_TTL,
    exemptMethods: config.AUTH_EXEMPT_METHODS,
    ...(nonceCounts ? { nonceCounts } : {}),
  });
}
