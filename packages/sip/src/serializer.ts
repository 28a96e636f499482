import { SipSerializeError } from './errors.js';
import { canonicalHeaderName } from './header-names.js';
import { isToken } from './header-values.js';
import type { SipMessage } from './message.js';

/** Writes the message; Content-Length always states body.length (replacing any value in `headers`). */
export function serializeMessage(msg: SipMessage): Buffer {
  let head =
    msg.kind === 'request'
      ? `${msg.method} ${msg.uri} ${msg.version}\r\n`
      : `${msg.version} ${msg.status} ${msg.reason}\r\n`;
  if (/[\r\n]/.test(head.slice(0, -2))) throw new SipSerializeError('Start line contains CR or LF');
  let wroteLength = false;
  for (const field of msg.headers) {
    if (canonicalHeaderName(field.name) === 'Content-Length') {
      if (!wroteLength) head += `Content-Length: ${msg.body.length}\r\n`;
      wroteLength = true;
      continue;
    }
    if (!isToken(field.name))
      throw new SipSerializeError(`Invalid header name: ${JSON.stringify(field.name)}`);
    if (/[\r\n]/.test(field.value)) throw new SipSerializeError(`Header ${field.name} contains CR or LF`);
    head += `${field.name}: ${field.value}\r\n`;
  }
  if (!wroteLength) head += `Content-Length: ${msg.body.length}\r\n`;
  head += '\r\n';
  return msg.body.length === 0
    ? Buffer.from(head, 'utf8')
    : Buffer.concat([Buffer.from(head, 'utf8'), msg.body]);
}
