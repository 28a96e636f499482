import { SipParseError } from './errors.js';
import { isToken } from './header-values.js';
import { clip } from './uri.js';

/** RFC 3903 §11.3.1 / §11.3.2 SIP-ETag and SIP-If-Match: one token, compared byte by byte. */
export function parseEntityTag(text: string, header: 'SIP-ETag' | 'SIP-If-Match' = 'SIP-ETag'): string {
  const value = text.trim();
  if (!isToken(value)) throw new SipParseError(400, `Malformed ${header}: ${clip(text)}`);
  return value;
}
