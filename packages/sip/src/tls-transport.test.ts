import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { SipParseError } from './errors.js';
import { getHeader } from './headers.js';
import { selfSignedCertificate } from './testing/self-signed.js';
import { TlsTransport, type TlsTransportOptions } from './tls-transport.js';
import type { Flow } from './transport.js';
import { collect, optionsRequest } from './transport.testkit.js';

const options = (callId: string, body = '') =>
  optionsRequest(callId, body, { scheme: 'sips', via: 'SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKs1' });

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function transport(extra: Partial<TlsTransportOptions> = {}): Promise<TlsTransport> {
  const t = new TlsTransport({ host: '127.0.0.1', port: 0, ...selfSignedCertificate(), ...extra });
  await t.listen();
  closers.push(() => t.close());
  return t;
}

/** A raw TLS client that trusts the test certificate. */
async function rawClient(port: number): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: selfSignedCertificate().cert });
  closers.push(() => {
    socket.destroy();
  });
  await once(socket, 'secureConnect');
  return socket;
}

describe('TlsTransport', () => {
  it('completes a handshake a verifying client accepts, and frames two messages from one record', async () => {
    const server = await transport();
    const arrived = collect(server, 2);
    const client = await rawClient(server.address.port);
    expect(client.authorized).toBe(true);
    client.write(Buffer.concat([options('one', 'abc'), options('two')]));
    const got = await arrived;
    expect(got.map(([m]) => getHeader(m, 'Call-ID'))).toEqual(['one', 'two']);
    expect(got[0][0].body.toString()).toBe('abc');
    expect(got[0][2]).toMatchObject({
      transport: 'tls',
      remoteHost: '127.0.0.1',
      remotePort: client.localPort,
      localPort: server.address.port,
    });
    expect(got[0][2].connectionId).toMatch(/^tls-/);
    expect(got[1][2].connectionId).toBe(got[0][2].connectionId);
  });

  it('reassembles a message split across TLS records', async () => {
    const server = await transport();
    const arrived = collect(server, 1);
    const client = await rawClient(server.address.port);
    const data = options('split', 'body-bytes');
    client.write(data.subarray(0, 50));
    await new Promise((r) => setTimeout(r, 20));
    client.write(data.subarray(50));
    const [[msg]] = await arrived;
    expect(getHeader(msg, 'Call-ID')).toBe('split');
    expect(msg.body.toString()).toBe('body-bytes');
  });

  it('answers a CRLFCRLF ping with CRLF (RFC 5626 §4.4.1)', async () => {
    const server = await transport();
    const client = await rawClient(server.address.port);
    const reply = once(client, 'data') as Promise<[Buffer]>;
    client.write('\r\n\r\n');
    expect((await reply)[0].toString()).toBe('\r\n');
  });

  it("a message without Content-Length is 'invalid' (400) and the connection is closed", async () => {
    const server = await transport();
    const client = await rawClient(server.address.port);
    const invalid = once(server, 'invalid') as Promise<[SipParseError, Buffer, Flow]>;
    const closed = once(client, 'end');
    client.write(options('nolen').toString().replace('Content-Length: 0\r\n', ''));
    const [err, , flow] = await invalid;
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/Content-Length/);
    expect(flow.transport).toBe('tls');
    await closed;
  });

  it('a client that does not speak TLS never reaches the SIP layer and the server keeps serving', async () => {
    const server = await transport();
    let events = 0;
    server.on('message', () => events++);
    server.on('invalid', () => events++);
    const plain = net.connect({ host: '127.0.0.1', port: server.address.port });
    closers.push(() => {
      plain.destroy();
    });
    await once(plain, 'connect');
    plain.write(options('cleartext'));
    await once(plain, 'close');
    const arrived = collect(server, 1);
    const client = await rawClient(server.address.port);
    client.write(options('after'));
    const [[msg]] = await arrived;
    expect(getHeader(msg, 'Call-ID')).toBe('after');
    expect(events).toBe(1);
  });

  it('connects out trusting the configured CA, reuses the connection, and is answered over it', async () => {
    const server = await transport();
    const client = await transport({ ca: selfSignedCertificate().cert });
    const atServer = collect(server, 2);
    const dest = { transport: 'tls' as const, host: '127.0.0.1', port: server.address.port };
    await client.send(options('reuse-1'), dest);
    await client.send(options('reuse-2'), dest);
    const got = await atServer;
    expect(client.connectionIds).toHaveLength(1);
    expect(got[1][2].connectionId).toBe(got[0][2].connectionId);
    const atClient = collect(client, 1);
    await server.send(options('back'), {
      transport: 'tls',
      host: got[0][2].remoteHost,
      port: 1,
      connectionId: got[0][2].connectionId,
    });
    const [[msg, , flow]] = await atClient;
    expect(getHeader(msg, 'Call-ID')).toBe('back');
    expect(flow.connectionId).toBe(client.connectionIds[0]);
    expect(server.connectionIds).toHaveLength(1);
  });

  it('refuses to connect out to a certificate it does not trust', async () => {
    const server = await transport();
    const client = await transport();
    await expect(
      client.send(options('x'), { transport: 'tls', host: '127.0.0.1', port: server.address.port }),
    ).rejects.toThrow(/TLS connect to 127\.0\.0\.1:\d+ failed: .*self-signed/i);
  });
});
