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

/** Long canonical form of a header name; unknown names are returned unchanged. */
export function canonicalHeaderName(name: string): string {
  return byLowerCase.get(name.toLowerCase()) ?? name;
}

/** True when two header names denote the same header (case-insensitive, compact forms expanded). */
export function sameHeaderName(a: string, b: string): boolean {
  return canonicalHeaderName(a).toLowerCase() === canonicalHeaderName(b).toLowerCase();
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
  return !SINGLE_VALUE_HEADERS.has(canonicalHeaderName(name).toLowerCase());
}
