import { SipParseError } from './errors.js';
import { formatParams, parseParams, quote } from './header-values.js';
import { clip, parseUri, uriScheme } from './uri.js';

/** The value of From, To, Contact, Route, Refer-To ... (RFC 3261 §20.10, §25.1 name-addr / addr-spec). */
export interface NameAddr {
  displayName?: string;
  uri: string;
  /** Header parameters (tag, expires, isfocus ...); null = flag without value. */
  params: Record<string, string | null>;
}

const UNQUOTED_DISPLAY_NAME =
  /^[A-Za-z0-9\-.!%*_+`'~\u0080-\uffff]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~\u0080-\uffff]+)*$/;

/** Accepts `"Name" <uri>;p`, `Name <uri>;p`, `<uri>;p` and the addr-spec form `uri;p`. */
export function parseNameAddr(text: string): NameAddr {
  const bad = (what: string) => new SipParseError(400, `Malformed address (${what}): ${clip(text)}`);
  const trimmed = text.trim();
  let displayName: string | undefined;
  let uri: string;
  let paramText: string;
  let pos = 0;

  if (trimmed.startsWith('"')) {
    let i = 1;
    let name = '';
    for (; i < trimmed.length; i++) {
      const ch = trimmed[i];
      if (ch === '\\') {
        if (i + 1 >= trimmed.length) throw bad('display name');
        name += trimmed[++i];
      } else if (ch === '"') break;
      else name += ch;
    }
    if (i >= trimmed.length) throw bad('display name');
    displayName = name;
    pos = i + 1;
    while (trimmed[pos] === ' ' || trimmed[pos] === '\t') pos++;
    if (trimmed[pos] !== '<') throw bad('missing <');
  } else {
    const lt = trimmed.indexOf('<');
    if (lt >= 0) {
      const name = trimmed.slice(0, lt).trim();
      // §25.1: an unquoted display name is tokens separated by LWS (non-ASCII tolerated, commas not).
      if (name !== '' && !UNQUOTED_DISPLAY_NAME.test(name)) throw bad('display name');
      if (name !== '') displayName = name.replace(/\s+/g, ' ');
      pos = lt;
    } else pos = -1;
  }

  if (pos >= 0) {
    const gt = trimmed.indexOf('>', pos);
    if (gt < 0) throw bad('missing >');
    uri = trimmed.slice(pos + 1, gt);
    if (uri !== uri.trim()) throw bad('whitespace inside <>'); // RFC 4475 §3.1.2.14
    paramText = trimmed.slice(gt + 1).trim();
    if (paramText !== '' && !paramText.startsWith(';')) throw bad('parameters');
  } else {
    // addr-spec: parameters after the URI belong to the header (§20.10), so the URI ends at the first ';'
    // after its host (a user part may itself contain ';').
    const at = trimmed.indexOf('@');
    const semi = trimmed.indexOf(';', Math.max(at, 0));
    uri = (semi < 0 ? trimmed : trimmed.slice(0, semi)).trimEnd();
    paramText = semi < 0 ? '' : trimmed.slice(semi);
    if (/[\s<>"]/.test(uri)) throw bad('uri');
    // §20.10: a URI with a '?' (or ',' or ';') must be written in angle brackets.
    if (uri.includes('?')) throw bad('addr-spec with headers needs <>');
  }

  validateUri(uri, bad);
  const params = parseParams(paramText);
  if (params === undefined) throw bad('parameters');
  const result: NameAddr = { uri, params };
  if (displayName !== undefined) result.displayName = displayName;
  return result;
}

function validateUri(uri: string, bad: (what: string) => SipParseError): void {
  const scheme = uriScheme(uri);
  if (scheme === undefined || /[\s<>"]/.test(uri) || uri.length === scheme.length + 1) throw bad('uri');
  if (scheme === 'sip' || scheme === 'sips') {
    try {
      parseUri(uri);
    } catch {
      throw bad('uri');
    }
  }
}

/** Always writes the `<uri>` form, so URI parameters never get mistaken for header parameters. */
export function formatNameAddr(value: NameAddr): string {
  const name =
    value.displayName !== undefined && value.displayName !== '' ? `${quote(value.displayName)} ` : '';
  return `${name}<${value.uri}>${formatParams(value.params)}`;
}

/** The `tag` parameter of a From or To value, if any. */
export function tagOf(headerValue: string): string | undefined {
  const tag = parseNameAddr(headerValue).params.tag;
  return tag === null ? undefined : tag;
}
