import { SipParseError } from './errors.js';

/** A SIP or SIPS URI (RFC 3261 §19.1). Escaped user parts and parameter values are kept verbatim. */
export interface SipUri {
  scheme: 'sip' | 'sips';
  user?: string;
  password?: string;
  /** Host name or IP address; IPv6 without the brackets of the IPv6reference form. */
  host: string;
  port?: number;
  /** Lower-cased names; null marks a parameter without value (`;lr`). */
  params: Record<string, string | null>;
  headers: Record<string, string>;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const USER = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$/;
const PASSWORD = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*$/;
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9.])?$/;
const IPV6 = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;
const PARAM_CHARS = /^(?:[A-Za-z0-9\-_.!~*'()[\]/:&+$]|%[0-9A-Fa-f]{2})+$/;
const HEADER_CHARS = /^(?:[A-Za-z0-9\-_.!~*'()[\]/?:+$]|%[0-9A-Fa-f]{2})*$/;

/** Scheme of any absolute URI ('sip', 'tel', ...), lower-cased; undefined when there is none. */
export function uriScheme(text: string): string | undefined {
  return SCHEME.exec(text)?.[1].toLowerCase();
}

/** Parses a sip: or sips: URI; throws SipParseError 416 for another scheme, 400 for bad syntax. */
export function parseUri(text: string): SipUri {
  const match = SCHEME.exec(text);
  if (!match) throw new SipParseError(400, `Malformed URI: ${clip(text)}`);
  const scheme = match[1].toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips')
    throw new SipParseError(416, `Unsupported URI scheme: ${clip(scheme)}`);
  const bad = (what: string) => new SipParseError(400, `Malformed URI ${what}: ${clip(text)}`);

  let rest = text.slice(match[0].length);
  const uri: SipUri = { scheme, host: '', params: {}, headers: {} };

  // The user part may hold ';' and '?' but never an unescaped '@' (§19.1.1).
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
    if (!USER.test(user)) throw bad('user');
    uri.user = user;
    if (colon >= 0) {
      const password = userinfo.slice(colon + 1);
      if (!PASSWORD.test(password)) throw bad('password');
      uri.password = password;
    }
    rest = rest.slice(at + 1);
  }

  let hostEnd = rest.search(/[;?]/);
  if (hostEnd < 0) hostEnd = rest.length;
  const hostport = rest.slice(0, hostEnd);
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw bad('host');
    uri.host = hostport.slice(1, close);
    if (!IPV6.test(uri.host)) throw bad('host');
    const after = hostport.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw bad('host');
      portText = after.slice(1);
    }
  } else {
    const colon = hostport.indexOf(':');
    uri.host = colon < 0 ? hostport : hostport.slice(0, colon);
    if (!HOSTNAME.test(uri.host)) throw bad('host');
    if (colon >= 0) portText = hostport.slice(colon + 1);
  }
  if (portText !== undefined) uri.port = parsePort(portText, bad);

  rest = rest.slice(hostEnd);
  const q = rest.indexOf('?');
  const paramText = q < 0 ? rest : rest.slice(0, q);
  if (paramText !== '') {
    for (const raw of paramText.slice(1).split(';')) {
      const eq = raw.indexOf('=');
      const name = eq < 0 ? raw : raw.slice(0, eq);
      if (!PARAM_CHARS.test(name)) throw bad('parameter');
      if (eq < 0) uri.params[name.toLowerCase()] = null;
      else {
        const value = raw.slice(eq + 1);
        if (!PARAM_CHARS.test(value)) throw bad('parameter');
        uri.params[name.toLowerCase()] = value;
      }
    }
  }
  if (q >= 0) {
    for (const raw of rest.slice(q + 1).split('&')) {
      const eq = raw.indexOf('=');
      if (eq <= 0) throw bad('header');
      const name = raw.slice(0, eq);
      const value = raw.slice(eq + 1);
      if (!HEADER_CHARS.test(name) || !HEADER_CHARS.test(value)) throw bad('header');
      uri.headers[name] = value;
    }
  }
  return uri;
}

export function formatUri(uri: SipUri): string {
  let out = `${uri.scheme}:`;
  if (uri.user !== undefined) {
    out += uri.user;
    if (uri.password !== undefined) out += `:${uri.password}`;
    out += '@';
  }
  out += formatHost(uri.host);
  if (uri.port !== undefined) out += `:${uri.port}`;
  for (const [name, value] of Object.entries(uri.params))
    out += value === null ? `;${name}` : `;${name}=${value}`;
  const headers = Object.entries(uri.headers);
  if (headers.length > 0) out += `?${headers.map(([n, v]) => `${n}=${v}`).join('&')}`;
  return out;
}

/** Host as written in a URI or Via: IPv6 addresses in brackets. */
export function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export function parsePort(text: string, fail: (what: string) => Error): number {
  if (!/^\d{1,5}$/.test(text)) throw fail('port');
  const port = Number(text);
  if (port > 65535) throw fail('port');
  return port;
}

/** Keeps error messages (which may become reason phrases) short and printable. */
export function clip(text: string): string {
  const printable = text.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 64 ? `${printable.slice(0, 61)}...` : printable;
}
