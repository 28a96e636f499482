// Quick acceptance of the everyday shapes of Via, name-addr, SIP-URI and CSeq values, so the parser can skip
// building the objects of parseVia/parseNameAddr/parseUri just to validate them. Each check answers "valid"
// only for values the full parser accepts; `false` means "ask the full parser", which then gives its own
// verdict and error message. Unusual shapes (quoted or spaced parameters, IPv6, tabs, non-ASCII, URI
// headers, addr-spec without <>) always go to the full parser. One anchored regex each: V8 runs these far
// faster than a character loop in JavaScript.

const TOKEN = "[A-Za-z0-9\\-.!%*_+`'~]";
// header-values.ts isParamValue, unquoted: token characters plus ':' '[' ']'.
const PARAM_VALUE = "[A-Za-z0-9\\-.!%*_+`'~:\\[\\]]";
// `;name[=value]` header parameters (parseParams) without quotes or spaces.
const PARAMS = `(?:;${TOKEN}+(?:=${PARAM_VALUE}+)?)*`;
// uri.ts HOSTNAME (host names and IPv4 addresses).
const HOST = '[A-Za-z0-9](?:[A-Za-z0-9\\-_.]*[A-Za-z0-9.])?';
// uri.ts parsePort: 1 to 5 digits (leading zeros allowed), at most 65535.
const PORT = '(?:\\d{1,4}|[0-5]\\d{4}|6[0-4]\\d{3}|65[0-4]\\d{2}|655[0-2]\\d|6553[0-5])';
// uri.ts USER, PASSWORD and PARAM_CHARS, each with %HH escapes.
const ESCAPED = '%[0-9A-Fa-f]{2}';
const USER = `(?:[A-Za-z0-9\\-_.!~*'()&=+$,;?/]|${ESCAPED})+`;
const PASSWORD = `(?:[A-Za-z0-9\\-_.!~*'()&=+$,]|${ESCAPED})*`;
const URI_PARAM = `(?:[A-Za-z0-9\\-_.!~*'()[\\]/:&+$]|${ESCAPED})+`;

const PLAIN_SIP_URI = new RegExp(
  `^[Ss][Ii][Pp][Ss]?:(?:${USER}(?::${PASSWORD})?@)?${HOST}(?::${PORT})?(?:;${URI_PARAM}(?:=${URI_PARAM})?)*$`,
);
const PLAIN_VIA = new RegExp(`^${TOKEN}+/${TOKEN}+/${TOKEN}+ +${HOST}(?::${PORT})?${PARAMS}$`);
// parseVia refuses a branch without a value; whether a later one overrides it is the full parser's call.
const BRANCH_FLAG = /;branch(?:;|$)/i;
const QUOTED_NAME = '"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\x20-\\x7e])*" *';
const UNQUOTED_NAME = `(?:${TOKEN}+(?: +${TOKEN}+)* *)?`;
const PLAIN_NAME_ADDR = new RegExp(`^(?:${QUOTED_NAME}|${UNQUOTED_NAME})<([^>]*)>${PARAMS}$`);
const PLAIN_CSEQ = new RegExp(`^(\\d{1,10}) (${TOKEN}+)$`);

/** A sip: or sips: URI that parseUri accepts (no IPv6 reference, no `?headers`). */
export function isPlainSipUri(text: string): boolean {
  return PLAIN_SIP_URI.test(text);
}

/** One Via value that parseVia accepts: `proto/version/transport host[:port][;params]`. */
export function isPlainVia(text: string): boolean {
  return PLAIN_VIA.test(text) && !BRANCH_FLAG.test(text);
}

/** A From/To value that parseNameAddr accepts: `["name" | name] <sip-uri>[;params]`. */
export function isPlainNameAddr(text: string): boolean {
  const match = PLAIN_NAME_ADDR.exec(text);
  return match !== null && PLAIN_SIP_URI.test(match[1]);
}

/** The method of a `seq SP method` CSeq value that parseCSeq accepts; undefined: ask parseCSeq. */
export function plainCSeqMethod(text: string): string | undefined {
  const match = PLAIN_CSEQ.exec(text);
  if (match === null || Number(match[1]) > 0x7fffffff) return undefined;
  return match[2];
}
