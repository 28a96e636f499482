import { parseCSeq } from './cseq.js';
import { getHeader, getHeaders } from './headers.js';
import type { SipMessage, SipRequest } from './message.js';
import { parseNameAddr } from './name-addr.js';
import { BRANCH_MAGIC_COOKIE, parseVia, type Via } from './via.js';

function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${via.port ?? ''}`;
}

/**
 * §17.2.3: the server transaction a request belongs to. RFC 3261 branches: branch + sent-by + method
 * (ACK counts as INVITE). Older peers: Request-URI, From tag, Call-ID, CSeq number and top Via.
 * `method` overrides the request's (CANCEL looking for its INVITE, §9.2).
 */
export function serverTransactionKey(req: SipRequest, method?: string): string {
  const topVia = getHeaders(req, 'Via')[0] ?? '';
  const via = parseVia(topVia);
  let m = method ?? req.method;
  if (m === 'ACK') m = 'INVITE';
  // The cookie alone names no transaction (RFC 4475 §3.2.1): such requests match the RFC 2543 way.
  if (via.branch?.startsWith(BRANCH_MAGIC_COOKIE) && via.branch.length > BRANCH_MAGIC_COOKIE.length)
    return `${via.branch}|${sentBy(via)}|${m}`;
  const cseq = parseCSeq(getHeader(req, 'CSeq') ?? '');
  let fromTag = '';
  try {
    fromTag = String(parseNameAddr(getHeader(req, 'From') ?? '').params.tag ?? '');
  } catch {
    // validated by the parser; an unparseable From cannot get here
  }
  return `2543|${req.uri}|${fromTag}|${getHeader(req, 'Call-ID')}|${cseq.seq}|${m}|${topVia}`;
}

/** §17.1.3: the client transaction a response belongs to: top Via branch + CSeq method. */
export function clientTransactionKey(msg: SipMessage): string | undefined {
  const topVia = getHeaders(msg, 'Via')[0];
  const cseq = getHeader(msg, 'CSeq');
  if (topVia === undefined || cseq === undefined) return undefined;
  const branch = parseVia(topVia).branch;
  if (branch === undefined) return undefined;
  const method = parseCSeq(cseq).method;
  return `${branch}|${method === 'ACK' ? 'INVITE' : method}`;
}
