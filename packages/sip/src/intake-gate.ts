// Overload control before parsing (issue 7 defect 5): a per-source budget checked on the raw bytes of every
// datagram or stream frame, so a flooding source costs a few byte comparisons instead of a parse and a
// transaction. Over-budget requests get a stateless 503 (never retransmitted, no transaction) while the
// source's 503 budget lasts, then nothing. In-dialog traffic has a budget of its own, so a flood of new
// requests cannot starve the BYEs, ACKs and refreshes of calls already up. Pure: bytes in, decision out.
import { generateTag } from './ids.js';
import { SourceRateLimiter } from './source-rate-limiter.js';
import type { Now } from './token-bucket.js';

/** What a cheap look at the first bytes and the header names tells about a message. */
export interface IntakePeek {
  kind: 'request' | 'response' | 'unknown';
  /** Request method as written (first token of the request line); '' otherwise. */
  method: string;
  /** The To header field carries a tag parameter: a request within a dialog (§12.2). */
  hasToTag: boolean;
}

/** Budget of a token bucket: sustained rate per second and burst. */
export interface RateBudget {
  rate: number;
  burst: number;
}

/** Which budget a message is charged to: new requests, or in-dialog requests (with ACK, CANCEL, responses). */
export type IntakeClass = 'new' | 'in-dialog';

export type IntakeDecision =
  | { kind: 'pass' }
  | { kind: 'drop'; class: IntakeClass }
  /** Send `response` (a stateless 503) back on the flow the message came on, and nothing more. */
  | { kind: 'reject'; class: IntakeClass; response: Buffer };

export interface IntakeGateOptions {
  /** Requests without a To tag (other than ACK and CANCEL), per source address; null = unlimited. */
  newRequests: RateBudget | null;
  /** Requests with a To tag, ACK, CANCEL and responses, per source address; null = unlimited. */
  inDialog: RateBudget | null;
  /** Stateless 503s per source address; beyond it (or when null) over-budget requests are dropped unanswered. */
  rejections: RateBudget | null;
  now?: Now;
  /** Sources remembered per budget (LRU beyond). */
  maxSources?: number;
}

const PASS: IntakeDecision = { kind: 'pass' };
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;
const SIP_SLASH = Buffer.from('SIP/');

/** One header field of the header section, its name lower-cased, continuation lines unfolded. */
interface RawField {
  name: string;
  value: string;
}

/**
 * The header fields of a message's header section, from its raw bytes: lines up to the first empty one,
 * `name: value` split at the first colon, folded lines (§7.3.1) joined to their field. The start line is
 * skipped. Never throws; a line without a colon is skipped.
 */
export function rawHeaderFields(data: Buffer, wanted?: (name: string) => boolean): RawField[] {
  const fields: RawField[] = [];
  let at = data.indexOf(LF);
  if (at < 0) return fields;
  at++;
  let current: RawField | undefined;
  while (at < data.length) {
    let end = data.indexOf(LF, at);
    if (end < 0) end = data.length;
    const lineEnd = end > at && data[end - 1] === CR ? end - 1 : end;
    if (lineEnd === at) break; // the empty line ending the header section
    if (data[at] === SP || data[at] === HT) {
      if (current) current.value += ` ${data.toString('latin1', at, lineEnd).trim()}`;
    } else {
      current = undefined;
      const colon = data.indexOf(COLON, at);
      if (colon > at && colon < lineEnd) {
        const name = data.toString('latin1', at, colon).trim().toLowerCase();
        if (wanted === undefined || wanted(name)) {
          current = { name, value: data.toString('latin1', colon + 1, lineEnd).trim() };
          fields.push(current);
        }
      }
    }
    at = end + 1;
  }
  return fields;
}

/** A tag parameter after the addr-spec (inside `<...>` a `;tag=` would be a URI parameter). */
function valueHasTag(value: string): boolean {
  const close = value.lastIndexOf('>');
  const params = close >= 0 ? value.slice(close + 1) : value;
  return /;\s*tag\s*=\s*[^\s;,]/i.test(params);
}

/** Classifies a message from its raw bytes without parsing it (a few comparisons and one header scan). */
export function peekMessage(data: Buffer): IntakePeek {
  if (data.length >= 4 && data[0] === SIP_SLASH[0] && data.subarray(0, 4).equals(SIP_SLASH))
    return { kind: 'response', method: '', hasToTag: false };
  const space = data.indexOf(SP);
  if (space <= 0 || space > 32) return { kind: 'unknown', method: '', hasToTag: false };
  const method = data.toString('latin1', 0, space);
  const at = toFieldStart(data);
  return { kind: 'request', method, hasToTag: at >= 0 && valueHasTag(fieldValueAt(data, at)) };
}

/** The value of the header line starting at `at`, with its continuation lines (§7.3.1). */
function fieldValueAt(data: Buffer, at: number): string {
  const colon = data.indexOf(COLON, at);
  let value = '';
  let from = colon + 1;
  for (;;) {
    let end = data.indexOf(LF, from);
    if (end < 0) end = data.length;
    value += data.toString('latin1', from, end > from && data[end - 1] === CR ? end - 1 : end);
    if (data[end + 1] !== SP && data[end + 1] !== HT) return value.trim();
    value += ' ';
    from = end + 1;
  }
}

/**
 * Offset of the first header line named To (or compact t) before the end of the header section, -1 if
 * none: only the first bytes of each line are compared, nothing is decoded.
 */
function toFieldStart(data: Buffer): number {
  for (let lf = data.indexOf(LF); lf >= 0 && lf + 1 < data.length; lf = data.indexOf(LF, lf + 1)) {
    const at = lf + 1;
    const first = data[at];
    if (first === CR || first === LF) return -1; // the empty line: no To in the header section
    if ((first | 0x20) !== 0x74) continue; // 't'
    let i = at + 1;
    if ((data[i] | 0x20) === 0x6f) i++; // 'o'
    while (data[i] === SP || data[i] === HT) i++;
    if (data[i] === COLON) return at;
  }
  return -1;
}

const RESPONSE_HEADERS: Record<string, string> = {
  via: 'Via',
  v: 'Via',
  from: 'From',
  f: 'From',
  to: 'To',
  t: 'To',
  'call-id': 'Call-ID',
  i: 'Call-ID',
  cseq: 'CSeq',
};

/**
 * A response to a request built from its raw bytes, statelessly (§8.2.6): its Vias, From, To (with a tag
 * added if it has none, §8.2.6.2), Call-ID and CSeq copied, then `extra` headers. Undefined when the
 * request lacks one of those, so cannot be answered.
 */
export function statelessResponse(
  data: Buffer,
  status: number,
  reason: string,
  extra: { name: string; value: string }[] = [],
): Buffer | undefined {
  const fields = rawHeaderFields(data, (name) => name in RESPONSE_HEADERS);
  const vias = fields.filter((f) => RESPONSE_HEADERS[f.name] === 'Via').map((f) => f.value);
  const first = (canonical: string) => fields.find((f) => RESPONSE_HEADERS[f.name] === canonical)?.value;
  const from = first('From');
  let to = first('To');
  const callId = first('Call-ID');
  const cseq = first('CSeq');
  if (vias.length === 0 || !from || !to || !callId || !cseq) return undefined;
  // A stray CR or NUL would make our response as malformed as the request: such a request gets none.
  if ([...vias, from, to, callId, cseq].some((v) => /[\r\0]/.test(v))) return undefined;
  if (!valueHasTag(to)) to = `${to};tag=${generateTag()}`;
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...vias.map((v) => `Via: ${v}`),
    `From: ${from}`,
    `To: ${to}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq}`,
    ...extra.map((h) => `${h.name}: ${h.value}`),
    'Content-Length: 0',
    '',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/**
 * Per-source budgets checked before parsing. A message within its budget passes; an over-budget request
 * (not ACK) gets a stateless 503 with Retry-After while the source's 503 budget lasts; everything else
 * over budget is dropped.
 */
export class SourceIntakeGate {
  private readonly newRequests?: SourceRateLimiter;
  private readonly inDialog?: SourceRateLimiter;
  private readonly rejections?: SourceRateLimiter;

  constructor(opts: IntakeGateOptions) {
    const now = opts.now ?? Date.now;
    const limiter = (b: RateBudget) => new SourceRateLimiter(b.rate, b.burst, now, opts.maxSources);
    if (opts.newRequests) this.newRequests = limiter(opts.newRequests);
    if (opts.inDialog) this.inDialog = limiter(opts.inDialog);
    if (opts.rejections) this.rejections = limiter(opts.rejections);
  }

  check(data: Buffer, source: string): IntakeDecision {
    if (!this.newRequests && !this.inDialog) return PASS;
    const peek = peekMessage(data);
    const cls: IntakeClass =
      peek.kind === 'response' || peek.hasToTag || peek.method === 'ACK' || peek.method === 'CANCEL'
        ? 'in-dialog'
        : 'new';
    const limiter = cls === 'new' ? this.newRequests : this.inDialog;
    const verdict = limiter?.check(source);
    if (!verdict || verdict.allowed) return PASS;
    // Nothing answers an ACK or a response; garbage is not worth a 503.
    if (peek.kind !== 'request' || peek.method === 'ACK') return { kind: 'drop', class: cls };
    if (!this.rejections?.check(source).allowed) return { kind: 'drop', class: cls };
    const response = statelessResponse(data, 503, 'Rate Limit Exceeded', [
      { name: 'Retry-After', value: String(verdict.retryAfterSeconds) },
    ]);
    return response ? { kind: 'reject', class: cls, response } : { kind: 'drop', class: cls };
  }
}
