import { SipParseError } from './errors.js';
import { parseParams } from './header-values.js';
import { clip } from './uri.js';

export interface EventHeader {
  /** Event package with its template (`conference`, `presence.winfo`); compared byte by byte (RFC 6665 §8.2.1). */
  package: string;
  id?: string;
  params: Record<string, string | null>;
}

/** RFC 6665 §8.2.1 Event header: `package[.template];id=...;param`. */
export function parseEvent(text: string): EventHeader {
  const semi = text.indexOf(';');
  const pkg = (semi < 0 ? text : text.slice(0, semi)).trim();
  const params = parseParams(semi < 0 ? '' : text.slice(semi));
  if (!/^[A-Za-z0-9\-!%*_+`'~]+(?:\.[A-Za-z0-9\-!%*_+`'~]+)*$/.test(pkg) || params === undefined) {
    throw new SipParseError(400, `Malformed Event: ${clip(text)}`);
  }
  const result: EventHeader = { package: pkg, params };
  const id = params.id;
  if (typeof id === 'string') result.id = id;
  return result;
}

export function formatEvent(event: EventHeader): string {
  const params = { ...event.params };
  if (event.id !== undefined) params.id = event.id;
  let out = event.package;
  for (const [name, value] of Object.entries(params))
    out += value === null ? `;${name}` : `;${name}=${value}`;
  return out;
}
