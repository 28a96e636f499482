import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { SipParseError } from './errors.js';
import { getHeader } from './headers.js';
import type { SipRequest } from './message.js';
import { TcpTransport } from './tcp-transport.js';
import type { Flow } from './transport.js';
import { collect, optionsRequest } from './transport.testkit.js';
import { UdpTransport } from './udp-transport.js';

const options = (callId: string, body = '') =>
  optionsRequest(callId, body, { scheme: 'sip', via: 'SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKt1' });

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function udp(): Promise<UdpTransport> {
  const t = new UdpTransport({ host: '127.0.0.1', port: 0 });
  await t.listen();
  closers.push(() => t.close());
  return t;
}

async function tcp(): Promise<TcpTransport> {
  const t = new TcpTransport({ host: '127.0.0.1', port: 0 });
  await t.listen();
  closers.push(() => t.close());
  return t;
}

async function rawClient(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  closers.push(() => {
    socket.destroy();
  });
  return socket;
}

describe('UdpTransport', () => {
  it('delivers a datagram parsed, with the flow it came on', async () => {
    const a = await udp();
    const b = await udp();
    const arrived = collect(b, 1);
    await a.send(options('udp-1', 'hi'), { transport: 'udp', host: '127.0.0.1', port: b.address.port });
    const [[msg, raw, flow]] = await arrived;
    expect((msg as SipRequest).method).toBe('OPTIONS');
    expect(getHeader(msg, 'Call-ID')).toBe('udp-1');
    expect(msg.body.toString()).toBe('hi');
    expect(raw.equals(options('udp-1', 'hi'))).toBe(true);
    expect(flow).toEqual({
      transport: 'udp',
      remoteHost: '127.0.0.1',
      remotePort: a.address.port,
      localHost: '127.0.0.1',
      localPort: b.address.port,
    });
  });

  it("emits 'invalid' for a datagram that does not parse", async () => {
    const a = await udp();
    const b = await udp();
    const invalid = once(b, 'invalid') as Promise<[SipParseError, Buffer, Flow]>;
    await a.send(Buffer.from('HELLO THERE\r\n\r\n'), {
      transport: 'udp',
      host: '127.0.0.1',
      port: b.address.port,
    });
    const [err, raw, flow] = await invalid;
    expect(err.status).toBe(400);
    expect(raw.toString()).toBe('HELLO THERE\r\n\r\n');
    expect(flow.remotePort).toBe(a.address.port);
  });
});

describe('TcpTransport', () => {
  it('frames two messages that arrive in one chunk', async () => {
    const server = await tcp();
    const arrived = collect(server, 2);
    const client = await rawClient(server.address.port);
    client.write(Buffer.concat([options('one', 'abc'), options('two')]));
    const got = await arrived;
    expect(got.map(([m]) => getHeader(m, 'Call-ID'))).toEqual(['one', 'two']);
    expect(got[0][0].body.toString()).toBe('abc');
    expect(got[0][2]).toMatchObject({
      transport: 'tcp',
      remoteHost: '127.0.0.1',
      remotePort: client.localPort,
    });
    expect(got[0][2].connectionId).toBeDefined();
    expect(got[1][2].connectionId).toBe(got[0][2].connectionId);
  });

  it('reassembles one message split across chunks', async () => {
    const server = await tcp();
    const arrived = collect(server, 1);
    const client = await rawClient(server.address.port);
    const data = options('split', 'body-bytes');
    client.write(data.subarray(0, 40));
    await new Promise((r) => setTimeout(r, 20));
    client.write(data.subarray(40, data.length - 3));
    await new Promise((r) => setTimeout(r, 20));
    client.write(data.subarray(data.length - 3));
    const [[msg]] = await arrived;
    expect(getHeader(msg, 'Call-ID')).toBe('split');
    expect(msg.body.toString()).toBe('body-bytes');
  });

  it('answers a CRLFCRLF ping with CRLF (RFC 5626 §4.4.1)', async () => {
    const server = await tcp();
    const client = await rawClient(server.address.port);
    const reply = once(client, 'data') as Promise<[Buffer]>;
    client.write('\r\n\r\n');
    const [data] = await reply;
    expect(data.toString()).toBe('\r\n');
  });

  it("a message without Content-Length is 'invalid' (400) and the connection is closed", async () => {
    const server = await tcp();
    const client = await rawClient(server.address.port);
    const invalid = once(server, 'invalid') as Promise<[SipParseError, Buffer, Flow]>;
    const closed = once(client, 'end');
    client.write(options('nolen').toString().replace('Content-Length: 0\r\n', ''));
    const [err] = await invalid;
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/Content-Length/);
    expect(err.partial?.headers?.find((h) => h.name === 'Call-ID')?.value).toBe('nolen');
    await closed;
  });

  it('replies over the connection a request came on and reuses open connections to a host:port', async () => {
    const server = await tcp();
    const client = await tcp();
    const atServer = collect(server, 2);
    const dest = { transport: 'tcp' as const, host: '127.0.0.1', port: server.address.port };
    await client.send(options('reuse-1'), dest);
    await client.send(options('reuse-2'), dest);
    const got = await atServer;
    expect(client.connectionIds).toHaveLength(1);
    expect(got[0][2].connectionId).toBe(got[1][2].connectionId);

    const atClient = collect(client, 1);
    const flow = got[0][2];
    // The remote port is the client's ephemeral port: only the connection id makes this reach it.
    await server.send(options('back'), {
      transport: 'tcp',
      host: flow.remoteHost,
      port: 1,
      connectionId: flow.connectionId,
    });
    const [[msg, , clientFlow]] = await atClient;
    expect(getHeader(msg, 'Call-ID')).toBe('back');
    expect(clientFlow.connectionId).toBe(client.connectionIds[0]);
    expect(server.connectionIds).toHaveLength(1);
  });
});
