import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { getHeader } from './headers.js';
import type { SipResponse } from './message.js';
import { parseMessage } from './parser.js';
import { createRequest } from './request.js';
import { createResponse } from './response.js';
import { TcpTransport } from './tcp-transport.js';
import { TransactionLayer } from './transaction-layer.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function node(): Promise<{ transport: TcpTransport; layer: TransactionLayer }> {
  const transport = new TcpTransport({ host: '127.0.0.1', port: 0 });
  await transport.listen();
  const layer = new TransactionLayer({ transports: [transport], via: transport.address });
  closers.push(async () => {
    await layer.close();
    await transport.close();
  });
  return { transport, layer };
}

async function rawClient(port: number): Promise<{ socket: net.Socket; received: () => string }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  let data = '';
  socket.on('data', (chunk) => {
    data += chunk.toString();
  });
  closers.push(() => {
    socket.destroy();
  });
  return { socket, received: () => data };
}

describe('TransactionLayer over TCP on 127.0.0.1', () => {
  it('request → final response, the response returning over the same connection', async () => {
    const a = await node();
    const b = await node();
    b.layer.onRequest = (req, tx) => tx!.respond(createResponse(req, 202, undefined, { toTag: 'b' }));
    const res = await a.layer.request(
      createRequest({
        method: 'SUBSCRIBE',
        uri: `sip:conf-abc@127.0.0.1:${b.transport.address.port};transport=tcp`,
        from: { uri: 'sip:a@example.com', params: {} },
        to: { uri: 'sip:conf-abc@example.com', params: {} },
        headers: [{ name: 'Event', value: 'conference' }],
      }),
      { transport: 'tcp', host: '127.0.0.1', port: b.transport.address.port },
    );
    expect(res.status).toBe(202);
    expect(a.transport.connectionIds).toHaveLength(1);
    expect(b.transport.connectionIds).toHaveLength(1);
  });

  it('answers over the connection even when the Via names a port nobody listens on', async () => {
    const b = await node();
    b.layer.onRequest = (req, tx) => tx!.respond(createResponse(req, 200, undefined, { toTag: 'b' }));
    const { socket, received } = await rawClient(b.transport.address.port);
    socket.write(
      [
        'OPTIONS sip:conf-abc@127.0.0.1 SIP/2.0',
        'Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKtcp1',
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:conf-abc@example.com>',
        'Call-ID: tcp-route',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    await once(socket, 'data');
    const res = parseMessage(Buffer.from(received())) as SipResponse;
    expect(res.status).toBe(200);
    expect(getHeader(res, 'Call-ID')).toBe('tcp-route');
    expect(getHeader(res, 'Via')).toBe('SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKtcp1');
  });

  it('a request without Content-Length gets a 400 on the stream, then the connection closes', async () => {
    const b = await node();
    const invalid: number[] = [];
    b.layer.onInvalid = (err) => invalid.push(err.status);
    const { socket, received } = await rawClient(b.transport.address.port);
    const ended = once(socket, 'end');
    socket.write(
      [
        'OPTIONS sip:conf-abc@127.0.0.1 SIP/2.0',
        'Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKtcp2',
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:conf-abc@example.com>',
        'Call-ID: tcp-nolen',
        'CSeq: 1 OPTIONS',
        '',
        '',
      ].join('\r\n'),
    );
    await ended;
    const res = parseMessage(Buffer.from(received())) as SipResponse;
    expect(res.status).toBe(400);
    expect(res.reason).toBe('Missing Content-Length on a stream transport');
    expect(getHeader(res, 'CSeq')).toBe('1 OPTIONS');
    expect(invalid).toEqual([400]);
  });
});
