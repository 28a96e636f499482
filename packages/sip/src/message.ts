export type TransportProtocol = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** One header line; `name` is the canonical long form for known headers (compact forms expanded). */
export interface HeaderField {
  name: string;
  value: string;
}

export interface SipRequest {
  kind: 'request';
  method: string;
  uri: string;
  version: string;
  headers: HeaderField[];
  body: Buffer;
}

export interface SipResponse {
  kind: 'response';
  status: number;
  reason: string;
  version: string;
  headers: HeaderField[];
  body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;

export const SIP_VERSION = 'SIP/2.0';

export function isRequest(msg: SipMessage): msg is SipRequest {
  return msg.kind === 'request';
}

export function isResponse(msg: SipMessage): msg is SipResponse {
  return msg.kind === 'response';
}
