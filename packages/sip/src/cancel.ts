import { parseCSeq } from './cseq.js';
import { getHeader, getHeaders } from './headers.js';
import type { HeaderField, SipRequest } from './message.js';

/**
 * §9.1: the CANCEL for an INVITE we sent. It carries the INVITE's top Via (same branch), so pass the INVITE
 * after TransactionLayer.request() added that Via; request() then keeps it and runs a CANCEL transaction.
 */
export function createCancel(invite: SipRequest): SipRequest {
  const headers: HeaderField[] = [];
  const topVia = getHeaders(invite, 'Via')[0];
  if (topVia !== undefined) headers.push({ name: 'Via', value: topVia });
  headers.push({ name: 'Max-Forwards', value: '70' });
  for (const name of ['From', 'To', 'Call-ID']) {
    const value = getHeader(invite, name);
    if (value !== undefined) headers.push({ name, value });
  }
  headers.push({ name: 'CSeq', value: `${parseCSeq(getHeader(invite, 'CSeq') ?? '').seq} CANCEL` });
  for (const field of invite.headers)
    if (field.name === 'Route') headers.push({ name: 'Route', value: field.value });
  headers.push({ name: 'Content-Length', value: '0' });
  return {
    kind: 'request',
    method: 'CANCEL',
    uri: invite.uri,
    version: invite.version,
    headers,
    body: Buffer.alloc(0),
  };
}
