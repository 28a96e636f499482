import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SipParseError } from './errors.js';
import { quote, splitOutside, unquote } from './header-values.js';
import type { SipRequest } from './message.js';
import { clip } from './uri.js';

// SIP digest authentication: RFC 3261 §22.4 with RFC 2617 computations and RFC 8760 SHA-256.

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  algorithm?: DigestAlgorithm;
  /** Offered qop values; 'auth' is the one SIP uses. */
  qop?: string[];
  opaque?: string;
  stale?: boolean;
  domain?: string;
}

export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm?: DigestAlgorithm;
  cnonce?: string;
  opaque?: string;
  qop?: string;
  nc?: string;
}

const ALGORITHMS: readonly DigestAlgorithm[] = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess'];

/** `Digest k=v, k="v"` into the scheme and lower-cased parameter names with unquoted values. */
export function parseAuthParams(text: string): { scheme: string; params: Record<string, string> } {
  const bad = () => new SipParseError(400, `Malformed authentication header: ${clip(text)}`);
  const match = /^\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+(.*)$/s.exec(text);
  if (!match) throw bad();
  const params: Record<string, string> = {};
  for (const part of splitOutside(match[2], ',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw bad();
    const name = part.slice(0, eq).trim().toLowerCase();
    const raw = part.slice(eq + 1).trim();
    if (!/^[a-z0-9\-.!%*_+`'~]+$/.test(name) || raw === '') throw bad();
    params[name] = raw.startsWith('"') ? unquote(raw) : raw;
  }
  return { scheme: match[1], params };
}

function algorithmOf(value: string | undefined): DigestAlgorithm | undefined {
  if (value === undefined) return undefined;
  const found = ALGORITHMS.find((a) => a.toLowerCase() === value.toLowerCase());
  if (!found) throw new SipParseError(400, `Unsupported digest algorithm: ${clip(value)}`);
  return found;
}

function requireDigest(text: string): Record<string, string> {
  const { scheme, params } = parseAuthParams(text);
  if (scheme.toLowerCase() !== 'digest')
    throw new SipParseError(400, `Unsupported authentication scheme: ${clip(scheme)}`);
  return params;
}

/** WWW-Authenticate / Proxy-Authenticate value. */
export function parseDigestChallenge(text: string): DigestChallenge {
  const p = requireDigest(text);
  if (p.realm === undefined || p.nonce === undefined)
    throw new SipParseError(400, 'Digest challenge without realm or nonce');
  const challenge: DigestChallenge = { realm: p.realm, nonce: p.nonce };
  const algorithm = algorithmOf(p.algorithm);
  if (algorithm) challenge.algorithm = algorithm;
  if (p.qop !== undefined)
    challenge.qop = p.qop
      .split(',')
      .map((q) => q.trim())
      .filter(Boolean);
  if (p.opaque !== undefined) challenge.opaque = p.opaque;
  if (p.stale !== undefined) challenge.stale = p.stale.toLowerCase() === 'true';
  if (p.domain !== undefined) challenge.domain = p.domain;
  return challenge;
}

export function formatDigestChallenge(c: DigestChallenge): string {
  const parts = [`realm=${quote(c.realm)}`];
  if (c.domain !== undefined) parts.push(`domain=${quote(c.domain)}`);
  parts.push(`nonce=${quote(c.nonce)}`);
  if (c.opaque !== undefined) parts.push(`opaque=${quote(c.opaque)}`);
  if (c.stale) parts.push('stale=TRUE');
  if (c.algorithm) parts.push(`algorithm=${c.algorithm}`);
  if (c.qop && c.qop.length > 0) parts.push(`qop=${quote(c.qop.join(','))}`);
  return `Digest ${parts.join(', ')}`;
}

/** Authorization / Proxy-Authorization value. */
export function parseDigestCredentials(text: string): DigestCredentials {
  const p = requireDigest(text);
  for (const name of ['username', 'realm', 'nonce', 'uri', 'response']) {
    if (p[name] === undefined) throw new SipParseError(400, `Digest credentials without ${name}`);
  }
  const creds: DigestCredentials = {
    username: p.username,
    realm: p.realm,
    nonce: p.nonce,
    uri: p.uri,
    response: p.response,
  };
  const algorithm = algorithmOf(p.algorithm);
  if (algorithm) creds.algorithm = algorithm;
  for (const name of ['cnonce', 'opaque', 'qop', 'nc'] as const)
    if (p[name] !== undefined) creds[name] = p[name];
  return creds;
}

export function formatDigestCredentials(c: DigestCredentials): string {
  const parts = [
    `username=${quote(c.username)}`,
    `realm=${quote(c.realm)}`,
    `nonce=${quote(c.nonce)}`,
    `uri=${quote(c.uri)}`,
    `response=${quote(c.response)}`,
  ];
  if (c.algorithm) parts.push(`algorithm=${c.algorithm}`);
  if (c.cnonce !== undefined) parts.push(`cnonce=${quote(c.cnonce)}`);
  if (c.opaque !== undefined) parts.push(`opaque=${quote(c.opaque)}`);
  if (c.qop !== undefined) parts.push(`qop=${c.qop}`);
  if (c.nc !== undefined) parts.push(`nc=${c.nc}`);
  return `Digest ${parts.join(', ')}`;
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm.startsWith('SHA-256') ? 'sha256' : 'md5')
    .update(text, 'utf8')
    .digest('hex');
}

/** H(username:realm:password), what a credentials store keeps instead of the password. */
export function digestHa1(
  algorithm: DigestAlgorithm,
  username: string,
  realm: string,
  password: string,
): string {
  return hash(algorithm, `${username}:${realm}:${password}`);
}

export interface DigestInput {
  algorithm?: DigestAlgorithm;
  /** H(username:realm:password) from digestHa1; for -sess it is extended with the nonces here. */
  ha1: string;
  method: string;
  uri: string;
  nonce: string;
  cnonce?: string;
  nc?: string;
  qop?: string;
  /** Needed for qop=auth-int. */
  body?: Buffer;
}

/** RFC 2617 §3.2.2.1 request-digest (algorithm per RFC 8760). */
export function computeDigestResponse(input: DigestInput): string {
  const algorithm = input.algorithm ?? 'MD5';
  let ha1 = input.ha1;
  if (algorithm.endsWith('-sess')) ha1 = hash(algorithm, `${ha1}:${input.nonce}:${input.cnonce ?? ''}`);
  const a2 =
    input.qop === 'auth-int'
      ? `${input.method}:${input.uri}:${hashBuffer(algorithm, input.body ?? Buffer.alloc(0))}`
      : `${input.method}:${input.uri}`;
  const ha2 = hash(algorithm, a2);
  if (input.qop === 'auth' || input.qop === 'auth-int') {
    return hash(
      algorithm,
      `${ha1}:${input.nonce}:${input.nc ?? ''}:${input.cnonce ?? ''}:${input.qop}:${ha2}`,
    );
  }
  return hash(algorithm, `${ha1}:${input.nonce}:${ha2}`);
}

function hashBuffer(algorithm: DigestAlgorithm, data: Buffer): string {
  return createHash(algorithm.startsWith('SHA-256') ? 'sha256' : 'md5')
    .update(data)
    .digest('hex');
}

/** Client side: the Authorization value answering `challenge` for `req` (qop=auth when offered). */
export function createDigestAuthorization(
  req: SipRequest,
  challenge: DigestChallenge,
  account: { username: string; password: string; cnonce?: string; nc?: number },
): string {
  const algorithm = challenge.algorithm ?? 'MD5';
  const qop = challenge.qop?.includes('auth') ? 'auth' : undefined;
  const cnonce = qop ? (account.cnonce ?? randomBytes(12).toString('hex')) : undefined;
  const nc = qop ? (account.nc ?? 1).toString(16).padStart(8, '0') : undefined;
  const response = computeDigestResponse({
    algorithm,
    ha1: digestHa1(algorithm, account.username, challenge.realm, account.password),
    method: req.method,
    uri: req.uri,
    nonce: challenge.nonce,
    cnonce,
    nc,
    qop,
  });
  const creds: DigestCredentials = {
    username: account.username,
    realm: challenge.realm,
    nonce: challenge.nonce,
    uri: req.uri,
    response,
  };
  if (challenge.algorithm) creds.algorithm = challenge.algorithm;
  if (cnonce !== undefined) creds.cnonce = cnonce;
  if (challenge.opaque !== undefined) creds.opaque = challenge.opaque;
  if (qop !== undefined) creds.qop = qop;
  if (nc !== undefined) creds.nc = nc;
  return formatDigestCredentials(creds);
}

/** Server side: whether `creds` prove knowledge of the password behind `ha1` for this request. */
export function verifyDigestCredentials(req: SipRequest, creds: DigestCredentials, ha1: string): boolean {
  const expected = computeDigestResponse({
    algorithm: creds.algorithm ?? 'MD5',
    ha1,
    method: req.method,
    uri: creds.uri,
    nonce: creds.nonce,
    cnonce: creds.cnonce,
    nc: creds.nc,
    qop: creds.qop,
    body: req.body,
  });
  const a = Buffer.from(expected);
  const b = Buffer.from(creds.response.toLowerCase());
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Stateless nonces: timestamp plus an HMAC over it and the realm, so any replica holding the secret can
 * check a nonce another issued, and an old one is reported stale (challenge again with stale=TRUE).
 */
export class DigestNonceIssuer {
  constructor(
    private readonly secret: Buffer | string,
    private readonly lifetimeMs = 300_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Timestamp, 8 random bytes (two challenges in one millisecond differ), HMAC over both and the realm. */
  issue(realm: string): string {
    const stamp = Buffer.alloc(16);
    stamp.writeBigUInt64BE(BigInt(Math.floor(this.now())));
    randomBytes(8).copy(stamp, 8);
    return Buffer.concat([stamp, this.mac(stamp, realm)]).toString('base64url');
  }

  check(nonce: string, realm: string): 'valid' | 'stale' | 'invalid' {
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== 32) return 'invalid';
    const stamp = raw.subarray(0, 16);
    if (!timingSafeEqual(raw.subarray(16), this.mac(stamp, realm))) return 'invalid';
    const age = this.now() - Number(stamp.readBigUInt64BE());
    return age >= 0 && age <= this.lifetimeMs ? 'valid' : 'stale';
  }

  private mac(stamp: Buffer, realm: string): Buffer {
    return createHmac('sha256', this.secret).update(stamp).update(realm).digest().subarray(0, 16);
  }
}
