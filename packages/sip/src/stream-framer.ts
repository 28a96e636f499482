import { SipParseError } from './errors.js';
import type { SipRequest, SipResponse } from './message.js';
import { DEFAULT_MAX_MESSAGE_SIZE, findBlankLine, parseMessage } from './parser.js';

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

    const blank = findBlankLine(buf);
    if (!blank) {
      if (buf.length > this.maxSize)
        return this.fail(new SipParseError(513, 'Message header section too large'), buf);
      return undefined;
    }
    const contentLength = findContentLength(buf.toString('utf8', 0, blank.headEnd));
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
    const data = Buffer.from(buf.subarray(0, total));
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
