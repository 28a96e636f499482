import { parseCSeq } from './cseq.js';
import { SipParseError } from './errors.js';
import { canonicalHeaderName } from './header-names.js';
import { isToken, splitHeaderValues } from './header-values.js';
import type { HeaderField, SipMessage, SipRequest, SipResponse } from './message.js';
import { parseNameAddr } from './name-addr.js';
import { clip, parseUri, uriScheme } from './uri.js';
import { parseVia } from './via.js';

export interface ParseOptions {
  /** Largest accepted message in bytes; larger input throws 513 (Message Too Large, §21.5.7). Default 65536 (PROFILE.md limits). */
  maxSize?: number;
  /** Request-URI schemes accepted; another scheme throws 416 (§8.2.2.1). Default sip, sips, tel. */
  requestUriSchemes?: readonly string[];
  /** For a request built by another service for us to send: the transaction layer adds its Via. */
  allowMissingVia?: boolean;
}

export const DEFAULT_MAX_MESSAGE_SIZE = 65536;
const DEFAULT_SCHEMES = ['sip', 'sips', 'tel'];

/** Headers every request and response carries (§8.1.1; Max-Forwards is checked by proxies, §16.3). */
const REQUIRED_HEADERS = ['Via', 'From', 'To', 'Call-ID', 'CSeq'];
const SINGLETON_HEADERS = ['From', 'To', 'Call-ID', 'CSeq', 'Content-Length', 'Max-Forwards', 'Content-Type'];

const CR = 0x0d;
const LF = 0x0a;

/**
 * Parses one whole message, as received in a datagram or cut out of a stream by StreamFramer.
 * Body: Content-Length bytes when present (excess ignored, a short body is an error, §18.3), else the rest.
 */
export function parseMessage(data: Uint8Array, opts: ParseOptions = {}): SipMessage {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const maxSize = opts.maxSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  if (buf.length <= maxSize) return parseWhole(buf, opts);
  let partial: Partial<SipRequest> | Partial<SipResponse> | undefined;
  try {
    partial = parseWhole(buf, opts);
  } catch (err) {
    if (err instanceof SipParseError) partial = err.partial;
    else throw err;
  }
  throw new SipParseError(513, `Message too large (${buf.length} > ${maxSize} bytes)`, partial);
}

function parseWhole(buf: Buffer, opts: ParseOptions): SipMessage {
  let start = 0;
  // §7.5: CRLFs before the start-line are ignored.
  while (start < buf.length && (buf[start] === CR || buf[start] === LF)) start++;
  if (start >= buf.length) throw new SipParseError(400, 'Empty message');

  const blank = findBlankLine(buf, start);
  const headEnd = blank?.headEnd ?? buf.length;
  const bodyStart = blank?.bodyStart ?? buf.length;
  const lines = buf.toString('utf8', start, headEnd).split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();

  // Bare CR, NUL and other controls are not allowed in the header section (only HT, and escaped in quotes).
  for (const line of lines) {
    if (hasControlCharacter(line)) throw new SipParseError(400, 'Control character in header section');
  }
  const startLine = lines[0] ?? '';
  let partial: Partial<SipRequest> | Partial<SipResponse>;
  let request: { method: string; uri: string; version: string } | undefined;
  let response: { status: number; reason: string; version: string } | undefined;
  if (/^SIP\//i.test(startLine)) {
    response = parseStatusLine(startLine);
    partial = { kind: 'response', ...response };
  } else {
    request = parseRequestLine(startLine);
    partial = { kind: 'request', ...request };
  }

  const headers: HeaderField[] = [];
  partial.headers = headers;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith(' ') || line.startsWith('\t')) {
      // §7.3.1 line folding: a continuation line joins the previous value with a single space.
      const last = headers[headers.length - 1];
      if (last === undefined) throw new SipParseError(400, 'Continuation line before any header', partial);
      const more = trimLws(line);
      if (more !== '') last.value = last.value === '' ? more : `${last.value} ${more}`;
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trimEnd();
    if (!isToken(name)) throw new SipParseError(400, `Malformed header line: ${clip(line)}`, partial);
    headers.push({ name: canonicalHeaderName(name), value: trimLws(line.slice(colon + 1)) });
  }

  // Checked once the headers are known, so a 505 can still be routed back (§8.2.6 needs Via etc.).
  const versionError = versionProblem((request ?? response)?.version ?? '');
  if (versionError) throw new SipParseError(versionError.status, versionError.message, partial);

  const counts = new Map<string, number>();
  for (const field of headers)
    counts.set(field.name.toLowerCase(), (counts.get(field.name.toLowerCase()) ?? 0) + 1);
  for (const name of REQUIRED_HEADERS) {
    if (name === 'Via' && opts.allowMissingVia) continue;
    if (!counts.has(name.toLowerCase())) throw new SipParseError(400, `Missing ${name} header`, partial);
  }
  for (const name of SINGLETON_HEADERS) {
    if ((counts.get(name.toLowerCase()) ?? 0) > 1)
      throw new SipParseError(400, `Duplicate ${name} header`, partial);
  }
  const value = (name: string) => headers.find((f) => f.name === name)?.value;
  const all = (name: string) =>
    headers.filter((f) => f.name === name).flatMap((f) => splitHeaderValues(f.value));

  const check = (header: string, fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      const why = err instanceof SipParseError ? err.message : String(err);
      throw new SipParseError(400, `Invalid ${header} header: ${why}`, partial);
    }
  };
  const cseq = (() => {
    try {
      return parseCSeq(value('CSeq') ?? '');
    } catch (err) {
      throw new SipParseError(400, `Invalid CSeq header: ${(err as Error).message}`, partial);
    }
  })();
  if (request && cseq.method !== request.method) {
    throw new SipParseError(
      400,
      `CSeq method ${clip(cseq.method)} does not match ${request.method}`,
      partial,
    );
  }
  const vias = all('Via');
  if (vias.length === 0 && !opts.allowMissingVia) throw new SipParseError(400, 'Missing Via header', partial);
  for (const via of vias) check('Via', () => parseVia(via));
  check('From', () => parseNameAddr(value('From') ?? ''));
  check('To', () => parseNameAddr(value('To') ?? ''));
  const callId = value('Call-ID') ?? '';
  if (!/^\S+$/.test(callId)) throw new SipParseError(400, 'Invalid Call-ID header', partial);
  const maxForwards = value('Max-Forwards');
  // 1*DIGIT (§20.22): leading zeros are legal (RFC 4475 §3.1.1.1); the 0-255 range is request validation's.
  if (maxForwards !== undefined && !/^\d{1,10}$/.test(maxForwards)) {
    throw new SipParseError(400, 'Invalid Max-Forwards header', partial);
  }
  const contentLengthText = value('Content-Length');
  let contentLength: number | undefined;
  if (contentLengthText !== undefined) {
    if (!/^\d{1,10}$/.test(contentLengthText))
      throw new SipParseError(400, 'Invalid Content-Length header', partial);
    contentLength = Number(contentLengthText);
  }

  if (request) {
    const scheme = uriScheme(request.uri);
    if (scheme === undefined)
      throw new SipParseError(400, `Malformed Request-URI: ${clip(request.uri)}`, partial);
    if (!(opts.requestUriSchemes ?? DEFAULT_SCHEMES).includes(scheme)) {
      throw new SipParseError(416, `Unsupported URI scheme: ${clip(scheme)}`, partial);
    }
    if (scheme === 'sip' || scheme === 'sips') {
      try {
        parseUri(request.uri);
      } catch {
        throw new SipParseError(400, `Malformed Request-URI: ${clip(request.uri)}`, partial);
      }
    }
  }

  let body: Buffer;
  if (contentLength === undefined) body = buf.subarray(bodyStart);
  else {
    if (buf.length - bodyStart < contentLength) {
      throw new SipParseError(
        400,
        `Body shorter than Content-Length (${buf.length - bodyStart} < ${contentLength})`,
        partial,
      );
    }
    body = buf.subarray(bodyStart, bodyStart + contentLength);
  }

  if (request) return { kind: 'request', ...request, headers, body };
  return {
    kind: 'response',
    ...(response as { status: number; reason: string; version: string }),
    headers,
    body,
  };
}

/** End of the header section: offset of the empty line and of the first body byte. */
export function findBlankLine(buf: Buffer, from = 0): { headEnd: number; bodyStart: number } | undefined {
  for (let i = buf.indexOf(LF, from); i >= 0; i = buf.indexOf(LF, i + 1)) {
    if (buf[i + 1] === LF) return { headEnd: i + 1, bodyStart: i + 2 };
    if (buf[i + 1] === CR && buf[i + 2] === LF) return { headEnd: i + 1, bodyStart: i + 3 };
  }
  return undefined;
}

/** Strips SP and HT only: String.trim would also eat U+FEFF and other Unicode spaces that are value bytes. */
function trimLws(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, '');
}

function hasControlCharacter(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const code = line.charCodeAt(i);
    // A quoted-pair may escape any control but CR and LF (§25.1; RFC 4475 §3.1.1.2).
    if (line[i - 1] === '\\' && code !== 0x0d && code !== 0x0a) continue;
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
  }
  return false;
}

function versionProblem(version: string): { status: number; message: string } | undefined {
  const match = /^SIP\/(\d+)\.(\d+)$/i.exec(version);
  if (!match) return { status: 400, message: `Malformed SIP version: ${clip(version)}` };
  if (Number(match[1]) !== 2 || Number(match[2]) !== 0) {
    return { status: 505, message: `SIP version not supported: ${clip(version)}` };
  }
  return undefined;
}

function parseRequestLine(line: string): { method: string; uri: string; version: string } {
  // Exactly one SP between the three elements and none after (§7.1; RFC 4475 §3.1.2.9, §3.1.2.10).
  const parts = line.split(' ');
  if (parts.length !== 3 || !isToken(parts[0]) || parts[1] === '') {
    throw new SipParseError(400, `Malformed Request-Line: ${clip(line)}`);
  }
  const [method, uri, version] = parts;
  return { method, uri, version };
}

function parseStatusLine(line: string): { status: number; reason: string; version: string } {
  const match = /^(\S+) (\d{3})(?: (.*))?$/.exec(line);
  if (!match) throw new SipParseError(400, `Malformed Status-Line: ${clip(line)}`);
  const status = Number(match[2]);
  if (status < 100 || status > 699) throw new SipParseError(400, `Status code out of range: ${status}`);
  return { status, reason: (match[3] ?? '').trim(), version: match[1] };
}
