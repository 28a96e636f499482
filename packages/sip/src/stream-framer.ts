import { SipParseError } from './errors.js';
import type { SipRequest, SipResponse } from './message.js';
import { DEFAULT_MAX_MESSAGE_SIZE, parseMessage } from './parser.js';

export type StreamFrame =
  /** One whole message's bytes, ready for parseMessage. */
  | { kind: 'message'; data: Buffer }
  /** RFC 5626 §4.4.1 CRLFCRLF keep-alive ping: answer with CRLF. */
  | { kind: 'ping' }
  /** A CRLF pong to our ping. */
  | { kind: 'pong' }
  /** Framing failed; the stream cannot be resynchronised and must be closed after answering. */
  | { kind: 'error'; error: SipParseError; data: Buffer };

/**
 * Cuts a byte stream into SIP messages by Content-Length (RFC 3261 §18.3). Pure: feed it bytes, get frames.
 * After an 'error' frame the framer stays failed and ignores further input.
 */
export class StreamFramer {
  private buffer: Buffer = Buffer.alloc(0);
  private failed = false;
  private readonly maxSize: number;

  constructor(opts: { maxMessageSize?: number } = {}) {
    this.maxSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  }

  /** Bytes received but not yet part of a complete frame. */
  get buffered(): number {
    return this.buffer.length;
  }

  push(chunk: Buffer): StreamFrame[] {
    if (this.failed) return [];
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: StreamFrame[] = [];
    for (;;) {
      const frame = this.next();
      if (!frame) break;
      frames.push(frame);
      if (frame.kind === 'error') {
        this.failed = true;
        this.buffer = Buffer.alloc(0);
        break;
      }
    }
    return frames;
  }

  private next(): StreamFrame | undefined {
    const buf = this.buffer;
    if (buf.length === 0) return undefined;
    if (buf[0] === 0x0d) {
      if (buf.length < 2) return undefined;
      if (buf[1] !== 0x0a) return this.fail(new SipParseError(400, 'Stray CR between messages'), buf);
      if (buf.length < 4) {
        // "\r\n" alone may be a pong or the first half of a ping; a third byte decides.
        if (buf.length === 3 && buf[2] !== 0x0d) return this.consume(2, { kind: 'pong' });
        return undefined;
      }
      if (buf[2] === 0x0d && buf[3] === 0x0a) return this.consume(4, { kind: 'ping' });
      return this.consume(2, { kind: 'pong' });
    }
    if (buf[0] === 0x0a) return this.consume(1, { kind: 'pong' });

    const blank = frameHead(buf);
    if (!blank) {
      if (buf.length > this.maxSize)
        return this.fail(new SipParseError(513, 'Message header section too large'), buf);
      return undefined;
    }
    const contentLength = blank.contentLength;
    if (contentLength === undefined || contentLength === 'invalid') {
      const head = buf.subarray(0, blank.bodyStart);
      const reason =
        contentLength === undefined
          ? 'Missing Content-Length on a stream transport'
          : 'Invalid Content-Length header';
      return this.fail(new SipParseError(400, reason, partialOf(head)), head);
    }
    const total = blank.bodyStart + contentLength;
    if (total > this.maxSize) {
      const head = buf.subarray(0, blank.bodyStart);
      return this.fail(
        new SipParseError(513, `Message too large (${total} > ${this.maxSize} bytes)`, partialOf(head)),
        head,
      );
    }
    if (buf.length < total) return undefined;
    // A copy, so a message kept by its receiver does not pin the rest of the stream's bytes.
    const data = Buffer.allocUnsafe(total);
    buf.copy(data, 0, 0, total);
    this.buffer = buf.subarray(total);
    return { kind: 'message', data };
  }

  private consume(n: number, frame: StreamFrame): StreamFrame {
    this.buffer = this.buffer.subarray(n);
    return frame;
  }

  private fail(error: SipParseError, data: Buffer): StreamFrame {
    return { kind: 'error', error, data: Buffer.from(data) };
  }
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;
const CONTENT_LENGTH = 'content-length';

interface FrameHead {
  /** Offset just past the LF ending the last header line. */
  headEnd: number;
  bodyStart: number;
  contentLength: number | 'invalid' | undefined;
}

/**
 * The end of the header section (as findBlankLine) and the value of the first Content-Length (or
 * compact `l`) field before it, in one walk over the line feeds; undefined while the section is incomplete.
 */
function frameHead(buf: Buffer): FrameHead | undefined {
  let value: { from: number; to: number } | undefined;
  for (let i = buf.indexOf(LF); i >= 0; i = buf.indexOf(LF, i + 1)) {
    if (buf[i + 1] === LF || (buf[i + 1] === CR && buf[i + 2] === LF)) {
      const headEnd = i + 1;
      const bodyStart = buf[i + 1] === LF ? i + 2 : i + 3;
      const contentLength =
        value === undefined ? undefined : contentLengthValue(buf, value.from, value.to, headEnd);
      return { headEnd, bodyStart, contentLength };
    }
    if (value === undefined) value = contentLengthAt(buf, i + 1);
  }
  return undefined;
}

/** When the line at `at` is a Content-Length field (any case, `:` after optional SP/HT): its value's bytes. */
function contentLengthAt(buf: Buffer, at: number): { from: number; to: number } | undefined {
  let i = at;
  const first = buf[i] | 0x20;
  if (first === 0x6c) i++;
  else if (first === 0x63) {
    for (let k = 0; k < CONTENT_LENGTH.length; k++, i++) {
      const want = CONTENT_LENGTH.charCodeAt(k);
      // Letters compare case-blind; `-` exactly (CR | 0x20 is `-` too).
      if ((want === 0x2d ? buf[i] : buf[i] | 0x20) !== want) return undefined;
    }
  } else return undefined;
  while (buf[i] === SP || buf[i] === HT) i++;
  if (buf[i] !== COLON) return undefined;
  i++;
  while (buf[i] === SP || buf[i] === HT) i++;
  const from = i;
  while (i < buf.length && buf[i] !== CR && buf[i] !== LF) i++;
  return { from, to: i };
}

/** 1 to 10 digits once trimmed, else 'invalid'. */
function contentLengthValue(buf: Buffer, from: number, to: number, headEnd: number): number | 'invalid' {
  let start = from;
  let end = to;
  for (let i = from; i < to; i++) {
    // Beyond ASCII, String.trim's idea of whitespace decides: take the text route.
    if (buf[i] >= 0x80) return findContentLength(buf.toString('utf8', 0, headEnd)) ?? 'invalid';
  }
  // String.trim on ASCII: SP, HT, VT and FF.
  while (start < end && (buf[start] === SP || (buf[start] >= HT && buf[start] <= 0x0c && buf[start] !== LF)))
    start++;
  while (
    end > start &&
    (buf[end - 1] === SP || (buf[end - 1] >= HT && buf[end - 1] <= 0x0c && buf[end - 1] !== LF))
  )
    end--;
  if (end - start < 1 || end - start > 10) return 'invalid';
  for (let i = start; i < end; i++) if (buf[i] < 0x30 || buf[i] > 0x39) return 'invalid';
  return Number(buf.toString('latin1', start, end));
}

/** Content-Length (or compact `l`) from a header section, undefined when absent. */
function findContentLength(head: string): number | 'invalid' | undefined {
  const match = /\r?\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/i.exec(head);
  if (!match) return undefined;
  const value = match[1].trim();
  return /^\d{1,10}$/.test(value) ? Number(value) : 'invalid';
}

/** Best-effort parse of a header section so a 400/513 can still be routed back. */
function partialOf(head: Buffer): Partial<SipRequest> | Partial<SipResponse> | undefined {
  try {
    return parseMessage(head, { maxSize: Number.POSITIVE_INFINITY });
  } catch (err) {
    return err instanceof SipParseError ? err.partial : undefined;
  }
}
