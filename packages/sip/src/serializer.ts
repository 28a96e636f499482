import { SipSerializeError } from './errors.js';
import { canonicalHeaderName, commonHeaderSpelling } from './header-names.js';
import { isToken } from './header-values.js';
import type { SipMessage } from './message.js';

/** Writes the message; Content-Length always states body.length (replacing any value in `headers`). */
export function serializeMessage(msg: SipMessage): Buffer {
  const startLine =
    msg.kind === 'request'
      ? `${msg.method} ${msg.uri} ${msg.version}`
      : `${msg.version} ${msg.status} ${msg.reason}`;
  if (hasLineBreak(startLine)) throw new SipSerializeError('Start line contains CR or LF');
  let head = `${startLine}\r\n`;
  let wroteLength = false;
  for (const field of msg.headers) {
    const name = field.name;
    // A usual spelling is a token already, and says at once whether it is Content-Length.
    const common = commonHeaderSpelling(name);
    if ((common ?? canonicalHeaderName(name)) === 'Content-Length') {
      if (!wroteLength) head += `Content-Length: ${msg.body.length}\r\n`;
      wroteLength = true;
      continue;
    }
    if (common === undefined && !isToken(name))
      throw new SipSerializeError(`Invalid header name: ${JSON.stringify(name)}`);
    if (hasLineBreak(field.value)) throw new SipSerializeError(`Header ${name} contains CR or LF`);
    head += `${name}: ${field.value}\r\n`;
  }
  if (!wroteLength) head += `Content-Length: ${msg.body.length}\r\n`;
  head += '\r\n';
  // One buffer for head and body: no intermediate head Buffer, no concat.
  const headBytes = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes + msg.body.length);
  // As many bytes as characters: all ASCII, where Latin-1 and UTF-8 agree and Latin-1 is a plain copy.
  out.write(head, 0, headBytes, headBytes === head.length ? 'latin1' : 'utf8');
  if (msg.body.length > 0) out.set(msg.body, headBytes);
  return out;
}

function hasLineBreak(text: string): boolean {
  if (typeof text !== 'string') return /[\r\n]/.test(text);
  return text.indexOf('\n') >= 0 || text.indexOf('\r') >= 0;
}
