// RFC 3261 §8.2: what a UAS core checks before handing a request to its owner, as a pure function.
// The parser already refused what breaks framing (400, 505, 416 for exotic schemes, 513); this adds
// the method, option-tag, scheme, range and per-header syntax checks that need a policy.
import { parseContacts } from './contact.js';
import { parseDeltaSeconds, parseRetryAfter } from './delta-seconds.js';
import { parseEntityTag } from './entity-tag.js';
import { parseEvent } from './event.js';
import { canonicalHeaderName, isListHeader } from './header-names.js';
import { splitHeaderValues } from './header-values.js';
import type { HeaderField, SipRequest } from './message.js';
import { parseNameAddr } from './name-addr.js';
import { parseReferSub } from './refer-sub.js';
import { parseDialogReference } from './replaces.js';
import { parseMinSE, parseSessionExpires } from './session-expires.js';
import { parseSubscriptionState } from './subscription-state.js';
import { parseTokenList } from './token-list.js';
import { clip, parseUri, uriScheme } from './uri.js';

/** Methods this stack recognises (RFC 3261 and the extensions in PROFILE.md); others get 501, not 405. */
export const KNOWN_METHODS: readonly string[] = [
  'ACK',
  'BYE',
  'CANCEL',
  'INFO',
  'INVITE',
  'MESSAGE',
  'NOTIFY',
  'OPTIONS',
  'PRACK',
  'PUBLISH',
  'REFER',
  'REGISTER',
  'SUBSCRIBE',
  'UPDATE',
];

/** Option tags we implement (RFC 3891 replaces, RFC 3911 join, RFC 4488 norefersub). */
export const DEFAULT_SUPPORTED_OPTION_TAGS: readonly string[] = ['replaces', 'join', 'norefersub'];

export interface RequestValidationPolicy {
  /** Methods the element accepts; a known method outside it gets 405 with Allow (§8.2.1). */
  allowedMethods: readonly string[];
  /** Request-URI schemes served; another gets 416 (§8.2.2.1). Default sip, sips. */
  uriSchemes?: readonly string[];
  /** Option tags understood; others in Require get 420 with Unsupported (§8.2.2.3). */
  supportedOptionTags?: readonly string[];
  /**
   * True for an element that forwards requests: Max-Forwards 0 gets 483 (§16.3 step 3) and Proxy-Require
   * is checked like Require (§16.3 step 5). A UAS (the default) processes Max-Forwards 0 normally.
   */
  forwards?: boolean;
  /** Largest accepted body; larger gets 413 (§21.4.11). Default: no limit beyond the message size. */
  maxBodySize?: number;
  /** Per method, the Content-Types accepted; another gets 415 with Accept (§8.2.3). Unlisted methods: any. */
  acceptedContentTypes?: Readonly<Record<string, readonly string[]>>;
  /** Per method, the body types our success response carries; an Accept that allows none gets 406 (§21.4.7). */
  producedContentTypes?: Readonly<Record<string, readonly string[]>>;
  /** The request arrived on a stream transport, where Content-Length is mandatory (§18.3, §20.14). */
  reliable?: boolean;
}

/** Why a request is refused: the response status, its reason phrase, and headers it must carry. */
export interface RequestRejection {
  status: number;
  reason: string;
  headers: HeaderField[];
}

const reject = (status: number, reason: string, headers: HeaderField[] = []): RequestRejection => ({
  status,
  reason,
  headers,
});

/** Methods that can never be refused: ACK has no response, CANCEL's Require is ignored (§8.2.2.3). */
const UNREFUSABLE_EXTENSIONS = new Set(['ACK', 'CANCEL']);
/** Dialog-creating requests, which must carry a Contact (§8.1.1.8, RFC 6665 §8.2, RFC 3515 §2.4). */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);
/** Requests whose handling keys state by the From tag: a subscription's dialog id (RFC 6665 §4.1.2). */
const FROM_TAG_REQUIRED = new Set(['SUBSCRIBE']);

/**
 * Checks `req` against `policy`; undefined when it may go to its owner. Never throws: anything the
 * checks cannot make sense of becomes a 400 naming the header.
 */
export function validateRequest(
  req: SipRequest,
  policy: RequestValidationPolicy,
): RequestRejection | undefined {
  try {
    const h = new HeaderIndex(req);
    return (
      checkMethod(req, policy) ??
      checkRequestUri(req, policy) ??
      checkHeaders(req, policy, h) ??
      checkExtensions(req, policy, h) ??
      checkBody(req, policy, h)
    );
  } catch (err) {
    return reject(400, clip(err instanceof Error ? err.message : String(err)));
  }
}

/** The request's fields grouped by header once, so the many checks below do not rescan the list. */
class HeaderIndex {
  private readonly byName = new Map<string, string[]>();

  constructor(req: SipRequest) {
    for (const field of req.headers) {
      const key = canonicalHeaderName(field.name).toLowerCase();
      const list = this.byName.get(key);
      if (list) list.push(field.value);
      else this.byName.set(key, [field.value]);
    }
  }

  private fields(name: string): string[] {
    return this.byName.get(name.toLowerCase()) ?? [];
  }

  /** Like getHeaders: list headers split at top-level commas. */
  values(name: string): string[] {
    const fields = this.fields(name);
    return isListHeader(name) ? fields.flatMap((f) => splitHeaderValues(f)) : fields;
  }

  first(name: string): string | undefined {
    return this.fields(name)[0];
  }

  has(name: string): boolean {
    return this.byName.has(name.toLowerCase());
  }
}

function checkMethod(req: SipRequest, policy: RequestValidationPolicy): RequestRejection | undefined {
  if (policy.allowedMethods.includes(req.method)) return undefined;
  // §21.5.2: 501 for a method we do not recognise at all; §21.4.6: 405 for one we know but do not serve here.
  const allow = [{ name: 'Allow', value: policy.allowedMethods.join(', ') }];
  if (!KNOWN_METHODS.includes(req.method))
    return reject(501, `Method ${clip(req.method)} Not Implemented`, allow);
  return reject(405, 'Method Not Allowed', allow);
}

function checkRequestUri(req: SipRequest, policy: RequestValidationPolicy): RequestRejection | undefined {
  const scheme = uriScheme(req.uri);
  if (scheme === undefined) return reject(400, `Malformed Request-URI: ${clip(req.uri)}`);
  if (!(policy.uriSchemes ?? ['sip', 'sips']).includes(scheme))
    return reject(416, `Unsupported URI Scheme: ${clip(scheme)}`);
  if (scheme === 'sip' || scheme === 'sips') {
    const uri = parseUri(req.uri);
    // §19.1.1 table: header components are not allowed in a Request-URI.
    if (Object.keys(uri.headers).length > 0) return reject(400, 'Request-URI must not carry headers');
  }
  return undefined;
}

type HeaderCheck = (value: string) => unknown;

/** Syntax of each header whose value we interpret; the first fault names its header. */
const HEADER_CHECKS: Record<string, HeaderCheck> = {
  Expires: (v) => parseDeltaSeconds(v, 'Expires'),
  'Min-Expires': (v) => parseDeltaSeconds(v, 'Min-Expires'),
  'Retry-After': (v) => parseRetryAfter(v),
  Event: (v) => parseEvent(v),
  'Subscription-State': (v) => parseSubscriptionState(v),
  'Refer-Sub': (v) => parseReferSub(v),
  'Refer-To': (v) => parseNameAddr(v),
  Replaces: (v) => parseDialogReference(v, 'Replaces'),
  Join: (v) => parseDialogReference(v, 'Join'),
  'SIP-If-Match': (v) => parseEntityTag(v, 'SIP-If-Match'),
  'Content-Type': (v) => checkMediaType(v),
  Date: (v) => checkSipDate(v),
  'Session-Expires': (v) => parseSessionExpires(v),
  'Min-SE': (v) => parseMinSE(v),
};
const LIST_CHECKS: Record<string, HeaderCheck> = {
  Route: (v) => parseNameAddr(v),
  'Record-Route': (v) => parseNameAddr(v),
};
const TOKEN_LISTS = ['Require', 'Proxy-Require', 'Supported', 'Allow', 'Allow-Events'];

function checkHeaders(
  req: SipRequest,
  policy: RequestValidationPolicy,
  h: HeaderIndex,
): RequestRejection | undefined {
  const maxForwards = h.first('Max-Forwards');
  if (maxForwards !== undefined) {
    const hops = /^\d{1,10}$/.test(maxForwards.trim()) ? Number(maxForwards.trim()) : Number.NaN;
    // §20.22: 0-255 in practice (1*DIGIT; RFC 4475 §3.1.2.4 treats 300 as invalid).
    if (!(hops <= 255)) return reject(400, `Invalid Max-Forwards header: ${clip(maxForwards)}`);
    if (hops === 0 && policy.forwards && req.method !== 'OPTIONS') return reject(483, 'Too Many Hops');
  }
  if (policy.reliable && !h.has('Content-Length'))
    return reject(400, 'Missing Content-Length on a stream transport');
  for (const [name, check] of Object.entries(HEADER_CHECKS)) {
    const problem = each(h.values(name), name, check);
    if (problem) return problem;
  }
  for (const [name, check] of Object.entries(LIST_CHECKS)) {
    const values = h.values(name).flatMap((v) => splitHeaderValues(v));
    const problem = each(values, name, check);
    if (problem) return problem;
  }
  for (const name of TOKEN_LISTS) {
    const problem = each([h.values(name).join(',')], name, (v) => parseTokenList([v], name));
    if (problem) return problem;
  }
  if (h.has('Contact')) {
    const problem = each([''], 'Contact', () => parseContacts(h.values('Contact')));
    if (problem) return problem;
    // §20.10: a Contact field is `*` or at least one contact; `Contact: ,,,` names none.
    if (h.values('Contact').length === 0)
      return reject(400, `Invalid Contact header: no contact in ${clip(JSON.stringify(h.first('Contact')))}`);
  } else if (DIALOG_CREATING.has(req.method) && !hasToTag(h)) {
    return reject(400, 'Missing Contact header');
  }
  // §8.1.1.3: the From tag is half of the dialog id a subscription lives in (RFC 6665 §4.1.2).
  if (FROM_TAG_REQUIRED.has(req.method) && !hasTag(h.first('From')))
    return reject(400, `Missing From tag in ${req.method} (RFC 3261 §8.1.1.3)`);
  if (['SUBSCRIBE', 'NOTIFY', 'PUBLISH'].includes(req.method) && !h.has('Event'))
    return reject(400, 'Missing Event header'); // RFC 6665 §8.2.1, RFC 3903 §11.1
  if (req.method === 'NOTIFY' && !h.has('Subscription-State'))
    return reject(400, 'Missing Subscription-State header'); // RFC 6665 §4.1.3
  if (req.method === 'REFER' && h.values('Refer-To').length !== 1)
    return reject(400, 'REFER needs exactly one Refer-To header'); // RFC 3515 §2.4.1
  return undefined;
}

function each(values: string[], name: string, check: HeaderCheck): RequestRejection | undefined {
  for (const value of values) {
    try {
      check(value);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return reject(400, clip(why.includes(name) ? why : `Invalid ${name} header: ${why}`));
    }
  }
  return undefined;
}

function hasToTag(h: HeaderIndex): boolean {
  return hasTag(h.first('To'));
}

function hasTag(field: string | undefined): boolean {
  try {
    const tag = parseNameAddr(field ?? '').params.tag;
    return typeof tag === 'string' && tag !== '';
  } catch {
    return false;
  }
}

function checkExtensions(
  req: SipRequest,
  policy: RequestValidationPolicy,
  h: HeaderIndex,
): RequestRejection | undefined {
  if (UNREFUSABLE_EXTENSIONS.has(req.method)) return undefined;
  const supported = policy.supportedOptionTags ?? DEFAULT_SUPPORTED_OPTION_TAGS;
  const required = parseTokenList(h.values('Require'), 'Require');
  if (policy.forwards) required.push(...parseTokenList(h.values('Proxy-Require'), 'Proxy-Require'));
  const unknown = [...new Set(required.filter((tag) => !supported.includes(tag)))];
  if (unknown.length === 0) return undefined;
  return reject(420, 'Bad Extension', [{ name: 'Unsupported', value: unknown.join(', ') }]);
}

function checkBody(
  req: SipRequest,
  policy: RequestValidationPolicy,
  h: HeaderIndex,
): RequestRejection | undefined {
  if (policy.maxBodySize !== undefined && req.body.length > policy.maxBodySize)
    return reject(413, `Body too large (${req.body.length} > ${policy.maxBodySize} bytes)`);
  const produced = policy.producedContentTypes?.[req.method];
  if (produced !== undefined && !acceptsAny(h.values('Accept'), produced))
    return reject(406, 'Not Acceptable', [{ name: 'Accept', value: produced.join(', ') }]);
  const accepted = policy.acceptedContentTypes?.[req.method];
  if (accepted === undefined || req.body.length === 0 || req.method === 'ACK') return undefined;
  const type = mediaTypeOf(h.first('Content-Type'));
  if (type === undefined) return reject(400, 'Body without Content-Type'); // §20.15
  if (accepted.includes(type)) return undefined;
  return reject(415, `Unsupported Media Type ${clip(type)}`, [
    { name: 'Accept', value: accepted.join(', ') },
  ]);
}

// Whether any media range of the Accept values (all, type wildcard or exact; q=0 excluded) covers one of `types`.
/** Whether Accept header values admit one of `types` (no Accept admits all; `q=0` excludes; RFC 3261 §20.1). */
export function acceptsAny(accept: string[], types: readonly string[]): boolean {
  const ranges = accept.flatMap((v) => splitHeaderValues(v));
  if (ranges.length === 0) return true; // §20.1: no Accept means application/sdp
  for (const range of ranges) {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    if (params.some((p) => /^q\s*=\s*0(\.0*)?$/.test(p))) continue;
    const [major, minor] = type.split('/');
    if (types.some((t) => type === '*/*' || t === type || (minor === '*' && t.startsWith(`${major}/`))))
      return true;
  }
  return false;
}

const MEDIA_TYPE = /^([A-Za-z0-9\-.!%*_+`'~]+)\/([A-Za-z0-9\-.!%*_+`'~]+)\s*(;.*)?$/s;

function checkMediaType(value: string): void {
  if (!MEDIA_TYPE.test(value.trim())) throw new Error(`Malformed Content-Type: ${clip(value)}`);
}

/** `type/subtype` lower-cased without parameters (media types compare case-insensitively). */
function mediaTypeOf(value: string | undefined): string | undefined {
  const match = value === undefined ? null : MEDIA_TYPE.exec(value.trim());
  return match ? `${match[1]}/${match[2]}`.toLowerCase() : undefined;
}

const DAY = '(Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const SIP_DATE = new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$`);

/** §20.17: RFC 1123 date, always in GMT. */
function checkSipDate(value: string): void {
  if (!SIP_DATE.test(value.trim())) throw new Error(`Malformed Date: ${clip(value)}`);
}
