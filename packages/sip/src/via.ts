import { SipParseError } from './errors.js';
import { formatParams, isToken, parseParams } from './header-values.js';
import { clip, formatHost, parsePort } from './uri.js';

/** One Via value (RFC 3261 §20.42): `SIP/2.0/UDP host:port;branch=...;received=...;rport`. */
export interface Via {
  protocol: string;
  /** Upper case as on the wire: 'UDP', 'TCP', 'TLS', 'WS', 'WSS', 'SCTP'. */
  transport: string;
  /** Host name or IP address; IPv6 without brackets. */
  host: string;
  port?: number;
  params: Record<string, string | null>;
  /** Copy of params.branch; when set, formatVia writes this value. */
  branch?: string;
}

/** RFC 3261 §8.1.1.7: branches that start with the magic cookie are unique per transaction. */
export const BRANCH_MAGIC_COOKIE = 'z9hG4bK';

const VIA_HEAD =
  /^([A-Za-z0-9\-.!%*_+`'~]+)\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+/;
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9.])?$/;

export function parseVia(text: string): Via {
  const bad = (what: string) => new SipParseError(400, `Malformed Via (${what}): ${clip(text)}`);
  const trimmed = text.trim();
  const head = VIA_HEAD.exec(trimmed);
  if (!head) throw bad('sent-protocol');
  let rest = trimmed.slice(head[0].length);
  const via: Via = {
    protocol: `${head[1]}/${head[2]}`,
    transport: head[3].toUpperCase(),
    host: '',
    params: {},
  };

  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw bad('host');
    via.host = rest.slice(1, close);
    if (!/^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/.test(via.host)) throw bad('host');
    rest = rest.slice(close + 1);
  } else {
    const end = rest.search(/[\s:;]|$/);
    via.host = rest.slice(0, end);
    if (!HOSTNAME.test(via.host)) throw bad('host');
    rest = rest.slice(end);
  }
  rest = rest.trimStart();
  if (rest.startsWith(':')) {
    rest = rest.slice(1).trimStart();
    const end = rest.search(/[\s;]|$/);
    portText = rest.slice(0, end);
    rest = rest.slice(end).trimStart();
  }
  if (portText !== undefined) via.port = parsePort(portText, bad);
  if (rest !== '' && !rest.startsWith(';')) throw bad('parameters');
  const params = parseParams(rest);
  if (params === undefined) throw bad('parameters');
  via.params = params;
  if (!isToken(via.transport)) throw bad('transport');
  const branch = params.branch;
  if (branch !== undefined) {
    if (branch === null) throw bad('branch');
    via.branch = branch;
  }
  return via;
}

export function formatVia(via: Via): string {
  const params = { ...via.params };
  if (via.branch !== undefined) params.branch = via.branch;
  const port = via.port !== undefined ? `:${via.port}` : '';
  return `${via.protocol}/${via.transport} ${formatHost(via.host)}${port}${formatParams(params)}`;
}
