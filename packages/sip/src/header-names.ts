// Canonical spellings of header names, and the compact forms of RFC 3261 §7.3.3 and later RFCs.

const CANONICAL_NAMES = [
  'Accept',
  'Accept-Contact',
  'Accept-Encoding',
  'Accept-Language',
  'Alert-Info',
  'Allow',
  'Allow-Events',
  'Authentication-Info',
  'Authorization',
  'Call-ID',
  'Call-Info',
  'Contact',
  'Content-Disposition',
  'Content-Encoding',
  'Content-Language',
  'Content-Length',
  'Content-Type',
  'CSeq',
  'Date',
  'Error-Info',
  'Event',
  'Expires',
  'From',
  'Identity',
  'In-Reply-To',
  'Join',
  'Max-Forwards',
  'Min-Expires',
  'Min-SE',
  'MIME-Version',
  'Organization',
  'P-Asserted-Identity',
  'Path',
  'Priority',
  'Privacy',
  'Proxy-Authenticate',
  'Proxy-Authorization',
  'Proxy-Require',
  'RAck',
  'Reason',
  'Record-Route',
  'Refer-Sub',
  'Refer-To',
  'Referred-By',
  'Reject-Contact',
  'Replaces',
  'Reply-To',
  'Request-Disposition',
  'Require',
  'Retry-After',
  'Route',
  'RSeq',
  'Server',
  'Session-Expires',
  'SIP-ETag',
  'SIP-If-Match',
  'Subject',
  'Subscription-State',
  'Supported',
  'Target-Dialog',
  'Timestamp',
  'To',
  'Unsupported',
  'User-Agent',
  'Via',
  'Warning',
  'WWW-Authenticate',
];

const COMPACT_FORMS: Record<string, string> = {
  a: 'Accept-Contact', // RFC 3841
  b: 'Referred-By', // RFC 3892
  c: 'Content-Type',
  d: 'Request-Disposition', // RFC 3841
  e: 'Content-Encoding',
  f: 'From',
  i: 'Call-ID',
  j: 'Reject-Contact', // RFC 3841
  k: 'Supported',
  l: 'Content-Length',
  m: 'Contact',
  o: 'Event', // RFC 6665
  r: 'Refer-To', // RFC 3515
  s: 'Subject',
  t: 'To',
  u: 'Allow-Events', // RFC 6665
  v: 'Via',
  x: 'Session-Expires', // RFC 4028
  y: 'Identity', // RFC 8224
};

const byLowerCase = new Map<string, string>();
for (const name of CANONICAL_NAMES) byLowerCase.set(name.toLowerCase(), name);
for (const [compact, long] of Object.entries(COMPACT_FORMS)) byLowerCase.set(compact, long);

// The spellings seen on the wire nearly every time (canonical, lower, upper, compact), looked up as they
// are so the hot paths skip toLowerCase; any other spelling takes the case-folding route.
const bySpelling = new Map<string, string>();
const keyBySpelling = new Map<string, string>();
for (const [lower, long] of byLowerCase) {
  for (const spelling of [long, lower, lower.toUpperCase()]) {
    bySpelling.set(spelling, long);
    keyBySpelling.set(spelling, long.toLowerCase());
  }
}

// Canonical spellings by length and first character, to recognise a name inside a line without cutting it out.
const byShape: (string[] | undefined)[] = [];
for (const name of CANONICAL_NAMES) {
  const shape = name.length * 128 + name.charCodeAt(0);
  const same = byShape[shape];
  if (same === undefined) byShape[shape] = [name];
  else same.push(name);
}

/** The canonical name when text[from, to) spells it exactly (same case), else undefined. */
export function canonicalNameAt(text: string, from: number, to: number): string | undefined {
  const first = text.charCodeAt(from);
  if (first >= 128) return undefined;
  const candidates = byShape[(to - from) * 128 + first];
  if (candidates === undefined) return undefined;
  for (const name of candidates) if (text.startsWith(name, from)) return name;
  return undefined;
}

/** The canonical name for the usual spellings (canonical, lower, upper, compact), else undefined. */
export function commonHeaderSpelling(name: string): string | undefined {
  return bySpelling.get(name);
}

/** Long canonical form of a header name; unknown names are returned unchanged. */
export function canonicalHeaderName(name: string): string {
  return bySpelling.get(name) ?? byLowerCase.get(name.toLowerCase()) ?? name;
}

/** Lower-cased canonical name: equal keys mean the same header. */
export function headerKey(name: string): string {
  return keyBySpelling.get(name) ?? canonicalHeaderName(name).toLowerCase();
}

/** True when two header names denote the same header (case-insensitive, compact forms expanded). */
export function sameHeaderName(a: string, b: string): boolean {
  return (typeof a === 'string' && a === b) || headerKey(a) === headerKey(b);
}

// Headers whose grammar is not a comma-separated list, or whose values contain commas of their own
// (dates, credentials, free text, addr-spec URIs that may hold a comma in the user part).
const SINGLE_VALUE_HEADERS = new Set(
  [
    'Authorization',
    'Proxy-Authorization',
    'WWW-Authenticate',
    'Proxy-Authenticate',
    'Authentication-Info',
    'Call-ID',
    'Content-Length',
    'Content-Type',
    'CSeq',
    'Date',
    'Expires',
    'From',
    'To',
    'Max-Forwards',
    'Min-Expires',
    'Min-SE',
    'MIME-Version',
    'Organization',
    'Priority',
    'RAck',
    'RSeq',
    'Refer-To',
    'Referred-By',
    'Replaces',
    'Join',
    'Reply-To',
    'Retry-After',
    'Server',
    'Session-Expires',
    'SIP-ETag',
    'SIP-If-Match',
    'Subject',
    'Subscription-State',
    'Event',
    'Timestamp',
    'User-Agent',
    'Identity',
    'Target-Dialog',
    'Refer-Sub',
  ].map((n) => n.toLowerCase()),
);

/** Whether `getHeaders` splits this header's values at top-level commas. */
export function isListHeader(name: string): boolean {
  return !SINGLE_VALUE_HEADERS.has(headerKey(name));
}
