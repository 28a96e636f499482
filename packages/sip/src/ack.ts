import { parseCSeq } from './cseq.js';
import { getHeader, getHeaders } from './headers.js';
import type { HeaderField, SipRequest, SipResponse } from './message.js';

/** §17.1.1.3: the ACK a client transaction sends for a non-2xx final response. */
export function createAckForNonSuccess(request: SipRequest, response: SipResponse): SipRequest {
  const headers: HeaderField[] = [];
  const topVia = getHeaders(request, 'Via')[0];
  if (topVia !== undefined) headers.push({ name: 'Via', value: topVia });
  headers.push({ name: 'Max-Forwards', value: '70' });
  const copy = (name: string, from: SipRequest | SipResponse) => {
    const value = getHeader(from, name);
    if (value !== undefined) headers.push({ name, value });
  };
  copy('From', request);
  copy('To', response);
  copy('Call-ID', request);
  headers.push({ name: 'CSeq', value: `${parseCSeq(getHeader(request, 'CSeq') ?? '').seq} ACK` });
  for (const field of request.headers)
    if (field.name === 'Route') headers.push({ name: 'Route', value: field.value });
  headers.push({ name: 'Content-Length', value: '0' });
  return {
    kind: 'request',
    method: 'ACK',
    uri: request.uri,
    version: request.version,
    headers,
    body: Buffer.alloc(0),
  };
}
