// Shared by the transport tests: the request they send and a way to wait for what a transport delivers.
import type { SipMessage } from './message.js';
import type { Flow } from './transport.js';
import type { TransportEmitter } from './transport-emitter.js';

/**
 * An OPTIONS request to a conference, framed by Content-Length. The scheme and Via header follow the
 * transport under test (sips and TLS for TLS, a .invalid Via host for WebSocket, RFC 7118 §5.2).
 */
export function optionsRequest(
  callId: string,
  body: string | Buffer,
  on: { scheme: 'sip' | 'sips'; via: string },
): Buffer {
  const head = [
    `OPTIONS ${on.scheme}:conf-abc@127.0.0.1 SIP/2.0`,
    `Via: ${on.via}`,
    `From: <${on.scheme}:probe@example.com>;tag=p`,
    `To: <${on.scheme}:conf-abc@example.com>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head), Buffer.isBuffer(body) ? body : Buffer.from(body)]);
}

/** Resolves with the first `count` messages the transport delivers, each with its raw bytes and flow. */
export function collect(
  transport: TransportEmitter,
  count: number,
): Promise<Array<[SipMessage, Buffer, Flow]>> {
  const got: Array<[SipMessage, Buffer, Flow]> = [];
  return new Promise((resolve) => {
    transport.on('message', (msg, raw, flow) => {
      got.push([msg, raw, flow]);
      if (got.length === count) resolve(got);
    });
  });
}
