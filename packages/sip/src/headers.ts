import { canonicalHeaderName, headerKey, isListHeader, sameHeaderName } from './header-names.js';
import { splitHeaderValues } from './header-values.js';
import type { SipMessage } from './message.js';

/** First value of the header, or undefined; `name` may be any case, long or compact. */
export function getHeader(msg: SipMessage, name: string): string | undefined {
  const key = headerKey(name);
  for (const field of msg.headers) if (matches(field.name, name, key)) return field.value;
  return undefined;
}

/** sameHeaderName with the wanted name's key computed once per call instead of once per field. */
function matches(fieldName: string, name: string, key: string): boolean {
  return (typeof fieldName === 'string' && fieldName === name) || headerKey(fieldName) === key;
}

/** All values of the header in order; list headers are split at top-level commas (RFC 3261 §7.3.1). */
export function getHeaders(msg: SipMessage, name: string): string[] {
  const split = isListHeader(name);
  const key = headerKey(name);
  const values: string[] = [];
  for (const field of msg.headers) {
    if (!matches(field.name, name, key)) continue;
    if (split) values.push(...splitHeaderValues(field.value));
    else values.push(field.value);
  }
  return values;
}

export function hasHeader(msg: SipMessage, name: string): boolean {
  const key = headerKey(name);
  return msg.headers.some((field) => matches(field.name, name, key));
}

/** Replaces every occurrence by one field at the position of the first; appends when absent. */
export function setHeader(msg: SipMessage, name: string, value: string): void {
  const index = msg.headers.findIndex((field) => sameHeaderName(field.name, name));
  if (index < 0) {
    msg.headers.push({ name: canonicalHeaderName(name), value });
    return;
  }
  msg.headers = msg.headers.filter((field, i) => i === index || !sameHeaderName(field.name, name));
  msg.headers[index] = { name: canonicalHeaderName(name), value };
}

/** Adds one field; 'first' puts it before every other field of the same name (e.g. a new top Via). */
export function addHeader(
  msg: SipMessage,
  name: string,
  value: string,
  position: 'first' | 'last' = 'last',
): void {
  const field = { name: canonicalHeaderName(name), value };
  if (position === 'first') {
    const index = msg.headers.findIndex((f) => sameHeaderName(f.name, name));
    if (index >= 0) {
      msg.headers.splice(index, 0, field);
      return;
    }
  }
  msg.headers.push(field);
}

export function removeHeader(msg: SipMessage, name: string): void {
  msg.headers = msg.headers.filter((field) => !sameHeaderName(field.name, name));
}

/** Replaces the first value of a list header (the top Via), keeping the rest of that field intact. */
export function replaceFirstHeaderValue(msg: SipMessage, name: string, value: string): void {
  const index = msg.headers.findIndex((field) => sameHeaderName(field.name, name));
  if (index < 0) {
    msg.headers.push({ name: canonicalHeaderName(name), value });
    return;
  }
  const field = msg.headers[index];
  const rest = splitHeaderValues(field.value).slice(1);
  msg.headers[index] = { name: field.name, value: [value, ...rest].join(', ') };
}

/** Removes the first value of a list header (a proxy popping its Via), dropping the field if emptied. */
export function removeFirstHeaderValue(msg: SipMessage, name: string): void {
  const index = msg.headers.findIndex((field) => sameHeaderName(field.name, name));
  if (index < 0) return;
  const field = msg.headers[index];
  const rest = splitHeaderValues(field.value).slice(1);
  if (rest.length === 0) msg.headers.splice(index, 1);
  else msg.headers[index] = { name: field.name, value: rest.join(', ') };
}
