import { parseCSeq } from './cseq.js';
import { SipParseError } from './errors.js';
import { scanHeaderLines } from './header-lines.js';
import { canonicalHeaderName, canonicalNameAt } from './header-names.js';
import { isToken, splitHeaderValues } from './header-values.js';
import type { HeaderField, SipMessage, SipRequest, SipResponse } from './message.js';
import { parseNameAddr } from './name-addr.js';
import { isPlainNameAddr, isPlainSipUri, isPlainVia, plainCSeqMethod } from './syntax-fast-path.js';
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

// Slots of the headers parseWhole counts while scanning.
const VIA = 0;
const FROM = 1;
const TO = 2;
const CALL_ID = 3;
const CSEQ = 4;
const CONTENT_LENGTH = 5;
const MAX_FORWARDS = 6;
const CONTENT_TYPE = 7;
const SLOTS = new Map([
  ['Via', VIA],
  ['From', FROM],
  ['To', TO],
  ['Call-ID', CALL_ID],
  ['CSeq', CSEQ],
  ['Content-Length', CONTENT_LENGTH],
  ['Max-Forwards', MAX_FORWARDS],
  ['Content-Type', CONTENT_TYPE],
]);

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;

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
  // The header section is decoded once; lines are ranges of this string, cut by index from here on.
  const head = buf.toString('utf8', start, headEnd);
  const lines = scanHeaderLines(buf, start, headEnd, head);
  const marks = lines.marks;
  const startLine = head.slice(marks[0], marks[1]);
  let partial: Partial<SipRequest> | Partial<SipResponse>;
  let request: { method: string; uri: string; version: string } | undefined;
  let response: { status: number; reason: string; version: string } | undefined;
  if (/^SIP\//i.test(startLine)) {
    response = parseStatusLine(startLine);
    partial = {
      kind: 'response',
      status: response.status,
      reason: response.reason,
      version: response.version,
    };
  } else {
    request = parseRequestLine(startLine);
    partial = { kind: 'request', method: request.method, uri: request.uri, version: request.version };
  }

  const headers: HeaderField[] = [];
  partial.headers = headers;
  // Fields the checks below need, noted while scanning: index of the first and how many (see SLOTS).
  const firstAt = [-1, -1, -1, -1, -1, -1, -1, -1];
  const counts = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let line = 1; line < lines.count; line++) {
    const lineStart = marks[line * 3];
    const end = marks[line * 3 + 1];
    const colon = marks[line * 3 + 2];
    const first = head.charCodeAt(lineStart);
    if (first === SP || first === HT) {
      // §7.3.1 line folding: a continuation line joins the previous value with a single space.
      const last = headers[headers.length - 1];
      if (last === undefined) throw new SipParseError(400, 'Continuation line before any header', partial);
      const more = trimLws(head, lineStart, end);
      if (more !== '') last.value = last.value === '' ? more : `${last.value} ${more}`;
      continue;
    }
    // Usually the name is spelt canonically right up to the colon: no need to cut it out and look it up.
    let canonical = colon < 0 ? undefined : canonicalNameAt(head, lineStart, colon);
    if (canonical === undefined) {
      const name = colon < 0 ? '' : headerNameBefore(head, lineStart, colon);
      if (!isToken(name))
        throw new SipParseError(400, `Malformed header line: ${clip(head.slice(lineStart, end))}`, partial);
      canonical = canonicalHeaderName(name);
    }
    const index = headers.length;
    headers.push({ name: canonical, value: trimLws(head, colon + 1, end) });
    const slot = SLOTS.get(canonical);
    if (slot !== undefined && counts[slot]++ === 0) firstAt[slot] = index;
  }

  // Checked once the headers are known, so a 505 can still be routed back (§8.2.6 needs Via etc.).
  const version = (request ?? response)?.version ?? '';
  if (version !== 'SIP/2.0') {
    const versionError = versionProblem(version);
    if (versionError) throw new SipParseError(versionError.status, versionError.message, partial);
  }

  // Required in every request and response (§8.1.1; Max-Forwards is checked by proxies, §16.3).
  if (counts[VIA] === 0 && !opts.allowMissingVia) throw new SipParseError(400, 'Missing Via header', partial);
  if (counts[FROM] === 0) throw new SipParseError(400, 'Missing From header', partial);
  if (counts[TO] === 0) throw new SipParseError(400, 'Missing To header', partial);
  if (counts[CALL_ID] === 0) throw new SipParseError(400, 'Missing Call-ID header', partial);
  if (counts[CSEQ] === 0) throw new SipParseError(400, 'Missing CSeq header', partial);
  // At most one of each (checked in this order, so the error names the same header every time).
  const duplicate = (name: string) => new SipParseError(400, `Duplicate ${name} header`, partial);
  if (counts[FROM] > 1) throw duplicate('From');
  if (counts[TO] > 1) throw duplicate('To');
  if (counts[CALL_ID] > 1) throw duplicate('Call-ID');
  if (counts[CSEQ] > 1) throw duplicate('CSeq');
  if (counts[CONTENT_LENGTH] > 1) throw duplicate('Content-Length');
  if (counts[MAX_FORWARDS] > 1) throw duplicate('Max-Forwards');
  if (counts[CONTENT_TYPE] > 1) throw duplicate('Content-Type');

  const check = (header: string, fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      const why = err instanceof SipParseError ? err.message : String(err);
      throw new SipParseError(400, `Invalid ${header} header: ${why}`, partial);
    }
  };
  const cseqText = headers[firstAt[CSEQ]].value;
  let cseqMethod = plainCSeqMethod(cseqText);
  if (cseqMethod === undefined) {
    try {
      cseqMethod = parseCSeq(cseqText).method;
    } catch (err) {
      throw new SipParseError(400, `Invalid CSeq header: ${(err as Error).message}`, partial);
    }
  }
  if (request && cseqMethod !== request.method) {
    throw new SipParseError(400, `CSeq method ${clip(cseqMethod)} does not match ${request.method}`, partial);
  }
  let vias = 0;
  for (let i = firstAt[VIA]; i >= 0 && i < headers.length; i++) {
    if (headers[i].name !== 'Via') continue;
    for (const value of splitHeaderValues(headers[i].value)) {
      vias++;
      if (!isPlainVia(value)) check('Via', () => parseVia(value));
    }
  }
  // Via fields holding only commas and spaces carry no Via at all.
  if (vias === 0 && !opts.allowMissingVia) throw new SipParseError(400, 'Missing Via header', partial);
  const fromText = headers[firstAt[FROM]].value;
  if (!isPlainNameAddr(fromText)) check('From', () => parseNameAddr(fromText));
  const toText = headers[firstAt[TO]].value;
  if (!isPlainNameAddr(toText)) check('To', () => parseNameAddr(toText));
  if (!/^\S+$/.test(headers[firstAt[CALL_ID]].value))
    throw new SipParseError(400, 'Invalid Call-ID header', partial);
  // 1*DIGIT (§20.22): leading zeros are legal (RFC 4475 §3.1.1.1); the 0-255 range is request validation's.
  if (firstAt[MAX_FORWARDS] >= 0 && !isShortNumber(headers[firstAt[MAX_FORWARDS]].value)) {
    throw new SipParseError(400, 'Invalid Max-Forwards header', partial);
  }
  let bodyLength: number | undefined;
  if (firstAt[CONTENT_LENGTH] >= 0) {
    const text = headers[firstAt[CONTENT_LENGTH]].value;
    if (!isShortNumber(text)) throw new SipParseError(400, 'Invalid Content-Length header', partial);
    bodyLength = Number(text);
  }

  if (request) {
    const scheme = uriScheme(request.uri);
    if (scheme === undefined)
      throw new SipParseError(400, `Malformed Request-URI: ${clip(request.uri)}`, partial);
    if (!(opts.requestUriSchemes ?? DEFAULT_SCHEMES).includes(scheme)) {
      throw new SipParseError(416, `Unsupported URI scheme: ${clip(scheme)}`, partial);
    }
    if ((scheme === 'sip' || scheme === 'sips') && !isPlainSipUri(request.uri)) {
      try {
        parseUri(request.uri);
      } catch {
        throw new SipParseError(400, `Malformed Request-URI: ${clip(request.uri)}`, partial);
      }
    }
  }

  let body: Buffer;
  if (bodyLength === undefined) body = buf.subarray(bodyStart);
  else {
    if (buf.length - bodyStart < bodyLength) {
      throw new SipParseError(
        400,
        `Body shorter than Content-Length (${buf.length - bodyStart} < ${bodyLength})`,
        partial,
      );
    }
    body = buf.subarray(bodyStart, bodyStart + bodyLength);
  }

  if (request)
    return {
      kind: 'request',
      method: request.method,
      uri: request.uri,
      version: request.version,
      headers,
      body,
    };
  const { status, reason } = response as { status: number; reason: string; version: string };
  return { kind: 'response', status, reason, version, headers, body };
}

/** End of the header section: offset of the empty line and of the first body byte. */
export function findBlankLine(buf: Buffer, from = 0): { headEnd: number; bodyStart: number } | undefined {
  for (let i = buf.indexOf(LF, from); i >= 0; i = buf.indexOf(LF, i + 1)) {
    if (buf[i + 1] === LF) return { headEnd: i + 1, bodyStart: i + 2 };
    if (buf[i + 1] === CR && buf[i + 2] === LF) return { headEnd: i + 1, bodyStart: i + 3 };
  }
  return undefined;
}

/** text[from, to) without leading and trailing SP and HT (String.trim would also eat U+FEFF etc.). */
function trimLws(text: string, from: number, to: number): string {
  while (from < to && isLws(text.charCodeAt(from))) from++;
  while (to > from && isLws(text.charCodeAt(to - 1))) to--;
  return text.slice(from, to);
}

function isLws(code: number): boolean {
  return code === SP || code === HT;
}

/** The name before a header's colon with trailing whitespace dropped (as String.trimEnd does). */
function headerNameBefore(text: string, from: number, colon: number): string {
  let end = colon;
  while (end > from && isLws(text.charCodeAt(end - 1))) end--;
  const last = text.charCodeAt(end - 1);
  // Other whitespace (U+00A0, U+FEFF ...) is rare: let trimEnd decide exactly what goes.
  if (end > from && (last < 0x21 || last > 0x7e)) return text.slice(from, colon).trimEnd();
  return text.slice(from, end);
}

/** 1 to 10 ASCII digits (Content-Length, Max-Forwards). */
function isShortNumber(text: string): boolean {
  if (text.length < 1 || text.length > 10) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return false;
  }
  return true;
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
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  const method = line.slice(0, sp1);
  if (sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0 || !isToken(method) || sp2 === sp1 + 1) {
    throw new SipParseError(400, `Malformed Request-Line: ${clip(line)}`);
  }
  return { method, uri: line.slice(sp1 + 1, sp2), version: line.slice(sp2 + 1) };
}

function parseStatusLine(line: string): { status: number; reason: string; version: string } {
  const match = /^(\S+) (\d{3})(?: (.*))?$/.exec(line);
  if (!match) throw new SipParseError(400, `Malformed Status-Line: ${clip(line)}`);
  const status = Number(match[2]);
  if (status < 100 || status > 699) throw new SipParseError(400, `Status code out of range: ${status}`);
  return { status, reason: (match[3] ?? '').trim(), version: match[1] };
}
