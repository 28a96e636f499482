import { canonicalHeaderName } from './header-names.js';
import { parseUri, type SipUri } from './uri.js';

/** §19.1.4: these parameters must match whenever either URI carries them, even at their default value. */
const PARAMS_THAT_MUST_MATCH = ['transport', 'user', 'ttl', 'method', 'maddr'] as const;

// RFC 2396 §2.3 unreserved characters: an escape of one of these means the character itself.
const UNRESERVED = /^[A-Za-z0-9\-_.!~*'()]$/;
const ESCAPE = /%([0-9A-Fa-f]{2})/g;

/**
 * RFC 3261 §19.1.4 equality of two SIP or SIPS URIs. Strings are parsed with parseUri and so throw its
 * SipParseError (416 for another scheme, 400 for bad syntax).
 */
export function uriEquals(a: string | SipUri, b: string | SipUri): boolean {
  const x = typeof a === 'string' ? parseUri(a) : a;
  const y = typeof b === 'string' ? parseUri(b) : b;
  if (x.scheme.toLowerCase() !== y.scheme.toLowerCase()) return false; // sip and sips never match
  // userinfo is case-sensitive; absent and present never match.
  if (!sameOptional(x.user, y.user, unescapeUnreserved)) return false;
  if (!sameOptional(x.password, y.password, unescapeUnreserved)) return false;
  if (x.host.toLowerCase() !== y.host.toLowerCase()) return false;
  if (x.port !== y.port) return false; // an explicit 5060 does not match an absent port
  return sameParams(x.params, y.params) && sameHeaders(x.headers, y.headers);
}

/**
 * Replaces escapes of unreserved characters by the character and upper-cases the hex digits of the other
 * escapes, so that two spellings of one value compare equal while `%3B` stays distinct from `;`.
 */
export function unescapeUnreserved(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(ESCAPE, (escaped, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : escaped.toUpperCase();
  });
}

function sameOptional(a: string | undefined, b: string | undefined, norm: (s: string) => string): boolean {
  if (a === undefined || b === undefined) return a === b;
  return norm(a) === norm(b);
}

/** Parameter names and values compare case-insensitively; null (`;lr`) only matches null. */
function paramValue(value: string | null): string | null {
  return value === null ? null : unescapeUnreserved(value).toLowerCase();
}

function normalisedParams(params: Record<string, string | null>): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const [name, value] of Object.entries(params))
    out.set(unescapeUnreserved(name).toLowerCase(), paramValue(value));
  return out;
}

function sameParams(a: Record<string, string | null>, b: Record<string, string | null>): boolean {
  const x = normalisedParams(a);
  const y = normalisedParams(b);
  for (const name of PARAMS_THAT_MUST_MATCH) {
    if (x.has(name) !== y.has(name)) return false;
  }
  // Any other parameter counts only when both URIs carry it.
  for (const [name, value] of x) {
    if (y.has(name) && y.get(name) !== value) return false;
  }
  return true;
}

/** Header names as canonical (compact forms expanded); values compare exactly after unescaping. */
function normalisedHeaders(headers: Record<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of Object.entries(headers))
    out.set(canonicalHeaderName(unescapeUnreserved(name)).toLowerCase(), unescapeUnreserved(value));
  return out;
}

/** §19.1.4: header components are never ignored; each must be in both URIs with the same value. */
function sameHeaders(a: Record<string, string>, b: Record<string, string>): boolean {
  const x = normalisedHeaders(a);
  const y = normalisedHeaders(b);
  if (x.size !== y.size) return false;
  for (const [name, value] of x) {
    if (y.get(name) !== value) return false;
  }
  return true;
}
