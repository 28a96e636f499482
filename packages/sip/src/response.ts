import { getHeader, getHeaders } from './headers.js';
import { generateTag } from './ids.js';
import type { HeaderField, SipRequest, SipResponse } from './message.js';
import { SIP_VERSION } from './message.js';
import { parseNameAddr } from './name-addr.js';
import { reasonPhrase } from './reason-phrase.js';

export interface CreateResponseOptions {
  /**
   * Added to To when the request's To has no tag (§8.2.6.2). Without it every response but a 100 gets a
   * fresh tag, so no out-of-dialog answer can go out untagged; pass it when provisional and final
   * responses of one dialog must agree.
   */
  toTag?: string;
  /** Extra header fields, appended after the copied ones. */
  headers?: HeaderField[];
  body?: Buffer | string;
  contentType?: string;
}

/** §8.2.6: a response that copies Via (all, in order), From, To, Call-ID and CSeq from the request. */
export function createResponse(
  req: SipRequest,
  status: number,
  reason?: string,
  opts: CreateResponseOptions = {},
): SipResponse {
  const headers: HeaderField[] = [];
  for (const field of req.headers)
    if (field.name === 'Via') headers.push({ name: 'Via', value: field.value });
  const copy = (name: string) => {
    const value = getHeader(req, name);
    if (value !== undefined) headers.push({ name, value });
  };
  copy('From');
  const to = getHeader(req, 'To');
  const toTag = opts.toTag ?? (status > 100 ? generateTag() : undefined);
  if (to !== undefined) headers.push({ name: 'To', value: toTag !== undefined ? withTag(to, toTag) : to });
  copy('Call-ID');
  copy('CSeq');
  // §8.2.6.1: a 100 Trying echoes the request's Timestamp.
  if (status === 100)
    for (const ts of getHeaders(req, 'Timestamp')) headers.push({ name: 'Timestamp', value: ts });
  if (opts.headers) headers.push(...opts.headers.map((f) => ({ ...f })));
  const body =
    typeof opts.body === 'string' ? Buffer.from(opts.body, 'utf8') : (opts.body ?? Buffer.alloc(0));
  if (opts.contentType !== undefined) headers.push({ name: 'Content-Type', value: opts.contentType });
  headers.push({ name: 'Content-Length', value: String(body.length) });
  return {
    kind: 'response',
    status,
    reason: reason ?? reasonPhrase(status),
    version: SIP_VERSION,
    headers,
    body,
  };
}

/** Appends `;tag=` to a From/To value unless it already has one; the received text is kept as is. */
export function withTag(value: string, tag: string): string {
  let hasTag = false;
  try {
    hasTag = parseNameAddr(value).params.tag !== undefined;
  } catch {
    // Unparseable To: leave it to the caller's validation; appending is still the best effort.
  }
  return hasTag ? value : `${value};tag=${tag}`;
}
