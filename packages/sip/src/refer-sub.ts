import { SipParseError } from './errors.js';
import { clip } from './uri.js';

/** RFC 4488 §2.1 Refer-Sub: `true` or `false` (case-insensitive), generic parameters ignored. */
export function parseReferSub(text: string): boolean {
  const value = text.split(';')[0].trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new SipParseError(400, `Malformed Refer-Sub: ${clip(text)}`);
}
