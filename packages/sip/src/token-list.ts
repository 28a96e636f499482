import { SipParseError } from './errors.js';
import { isToken, splitHeaderValues } from './header-values.js';
import { clip } from './uri.js';

/**
 * Values of a comma-separated token list header (Allow, Supported, Require, Proxy-Require, Unsupported,
 * Allow-Events; RFC 3261 §20.5, §20.37, §20.32, RFC 6665 §8.2.2). Every field is split; an empty
 * field contributes nothing (an empty Supported is legal). Option tags compare case-sensitively
 * (§19.2) and methods too (§7.1), so values are kept as received.
 */
export function parseTokenList(fields: readonly string[], header = 'token list'): string[] {
  const values: string[] = [];
  for (const field of fields) {
    for (const value of splitHeaderValues(field)) {
      if (!isToken(value)) throw new SipParseError(400, `Malformed ${header} value: ${clip(value)}`);
      values.push(value);
    }
  }
  return values;
}

export function formatTokenList(values: readonly string[]): string {
  return values.join(', ');
}
