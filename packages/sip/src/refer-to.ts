// Refer-To (RFC 3515 §2.1) as the focus of RFC 4579 reads it: the URI to act on, the method the
// `method` URI parameter names (§19.1.1; INVITE when absent), and that URI without `method` and headers.
import { SipParseError } from './errors.js';
import { isToken } from './header-values.js';
import { parseNameAddr } from './name-addr.js';
import { clip, formatUri, parseUri, type SipUri } from './uri.js';

export interface ReferTo {
  /** The URI as written in the header. */
  uri: string;
  /** Upper-cased method of the `method` URI parameter; INVITE when absent (RFC 3261 §19.1.1). */
  method: string;
  /** The URI with `method` and any `?headers` removed: whom to dial, or whom to remove. */
  target: string;
  /** Headers of the URI (`?Replaces=…`), names as written, values still escaped. */
  uriHeaders: Record<string, string>;
  /** Header parameters after the `<uri>`. */
  params: Record<string, string | null>;
}

/**
 * Parses one Refer-To value: a name-addr or addr-spec whose URI is sip: or sips: (another scheme: 416,
 * bad syntax: 400, as parseUri says).
 */
export function parseReferTo(text: string): ReferTo {
  const address = parseNameAddr(text);
  const uri: SipUri = parseUri(address.uri);
  // An addr-spec `sip:x;method=BYE` puts the parameter after the URI (RFC 3261 §20.10); read it there too.
  const rawMethod = uri.params.method !== undefined ? uri.params.method : address.params.method;
  if (rawMethod === null || (rawMethod !== undefined && !isToken(rawMethod)))
    throw new SipParseError(400, `Malformed Refer-To method parameter: ${clip(text)}`);
  const target: SipUri = { ...uri, params: { ...uri.params }, headers: {} };
  delete target.params.method;
  return {
    uri: address.uri,
    method: (rawMethod ?? 'INVITE').toUpperCase(),
    target: formatUri(target),
    uriHeaders: { ...uri.headers },
    params: Object.fromEntries(Object.entries(address.params).filter(([name]) => name !== 'method')),
  };
}
