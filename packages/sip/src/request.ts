import { generateCallId, generateTag } from './ids.js';
import type { HeaderField, SipRequest } from './message.js';
import { SIP_VERSION } from './message.js';
import { formatNameAddr, type NameAddr } from './name-addr.js';

export interface CreateRequestOptions {
  method: string;
  uri: string;
  from: NameAddr;
  to: NameAddr;
  callId?: string;
  cseq?: number;
  contact?: NameAddr;
  headers?: HeaderField[];
  body?: Buffer | string;
  contentType?: string;
}

/** An out-of-dialog request (§8.1.1): From gets a tag if it has none, Max-Forwards 70. No Via: the transaction layer adds it. */
export function createRequest(opts: CreateRequestOptions): SipRequest {
  const from: NameAddr = { ...opts.from, params: { ...opts.from.params } };
  if (from.params.tag === undefined || from.params.tag === null) from.params.tag = generateTag();
  const headers: HeaderField[] = [
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: formatNameAddr(from) },
    { name: 'To', value: formatNameAddr(opts.to) },
    { name: 'Call-ID', value: opts.callId ?? generateCallId() },
    { name: 'CSeq', value: `${opts.cseq ?? 1} ${opts.method}` },
  ];
  if (opts.contact) headers.push({ name: 'Contact', value: formatNameAddr(opts.contact) });
  return finishRequest(opts.method, opts.uri, headers, opts);
}

export function finishRequest(
  method: string,
  uri: string,
  headers: HeaderField[],
  opts: { headers?: HeaderField[]; body?: Buffer | string; contentType?: string },
): SipRequest {
  if (opts.headers) headers.push(...opts.headers.map((f) => ({ ...f })));
  const body =
    typeof opts.body === 'string' ? Buffer.from(opts.body, 'utf8') : (opts.body ?? Buffer.alloc(0));
  if (opts.contentType !== undefined) headers.push({ name: 'Content-Type', value: opts.contentType });
  headers.push({ name: 'Content-Length', value: String(body.length) });
  return { kind: 'request', method, uri, version: SIP_VERSION, headers, body };
}
