import { once } from 'node:events';
import http from 'node:http';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { SipParseError } from './errors.js';
import { getHeader } from './headers.js';
import type { SipRequest } from './message.js';
import { selfSignedCertificate } from './testing/self-signed.js';
import type { Flow } from './transport.js';
import { collect, optionsRequest } from './transport.testkit.js';
import { WsTransport, type WsTransportOptions } from './ws-transport.js';

const options = (callId: string, body: string | Buffer = '') =>
  optionsRequest(callId, body, { scheme: 'sip', via: 'SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKw1' });

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function server(extra: Partial<WsTransportOptions> = {}): Promise<WsTransport> {
  const t = new WsTransport({ host: '127.0.0.1', port: 0, ...extra });
  await t.listen();
  closers.push(() => t.close());
  return t;
}

/** A plain `ws` client: the peer a browser UA would be. */
async function client(
  port: number,
  protocols: string | string[] = 'sip',
  opts: { autoPong?: boolean } = {},
): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols, opts);
  closers.push(() => {
    ws.terminate();
  });
  await once(ws, 'open');
  return ws;
}

/** Status of a refused handshake. */
async function refusedStatus(
  port: number,
  protocols: string[],
  origin?: string,
): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols, origin ? { origin } : {});
  // Aborting a handshake that never completed reports an error on the client; that is expected here.
  ws.on('error', () => {});
  closers.push(() => {
    ws.terminate();
  });
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, http.IncomingMessage];
  let body = '';
  for await (const chunk of res) body += chunk;
  return { status: res.statusCode ?? 0, body };
}

function nextFrame(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) =>
    ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })),
  );
}

describe('WsTransport handshake (RFC 7118 §4)', () => {
  it('refuses with 403 a handshake whose Origin the judge rejects, and accepts the ones it allows', async () => {
    const seen: (string | undefined)[] = [];
    const t = await server({
      acceptOrigin: (origin) => {
        seen.push(origin);
        return origin === undefined || origin === 'http://console.example';
      },
    });
    const refused = await refusedStatus(t.address.port, ['sip'], 'http://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('http://evil.example');
    const allowed = new WebSocket(`ws://127.0.0.1:${t.address.port}/`, 'sip', {
      origin: 'http://console.example',
    });
    closers.push(() => {
      allowed.terminate();
    });
    await once(allowed, 'open');
    expect((await client(t.address.port)).protocol).toBe('sip');
    expect(seen).toEqual(['http://evil.example', 'http://console.example', undefined]);
  });

  it("accepts a handshake that offers 'sip' and answers with it", async () => {
    const t = await server();
    const ws = await client(t.address.port, ['xmpp', 'sip']);
    expect(ws.protocol).toBe('sip');
    expect(t.protocol).toBe('ws');
    await new Promise((r) => setImmediate(r));
    expect(t.connectionIds).toHaveLength(1);
  });

  it.each([[[]], [['xmpp']], [['sip-not', 'mqtt']]])(
    'refuses a handshake offering %j with 400',
    async (protocols) => {
      const t = await server();
      const { status, body } = await refusedStatus(t.address.port, protocols);
      expect(status).toBe(400);
      expect(body).toMatch(/Sec-WebSocket-Protocol must offer 'sip'/);
      expect(t.connectionIds).toHaveLength(0);
    },
  );

  it('answers a plain HTTP request with 426 Upgrade Required', async () => {
    const t = await server();
    const res = await new Promise<http.IncomingMessage>((resolve) =>
      http.get(`http://127.0.0.1:${t.address.port}/`, resolve),
    );
    res.resume();
    expect(res.statusCode).toBe(426);
    expect(res.headers.upgrade).toBe('websocket');
  });
});

describe('WsTransport messages', () => {
  it('delivers one SIP message per WebSocket message, text or binary, with the flow it came on', async () => {
    const t = await server();
    const arrived = collect(t, 2);
    const ws = await client(t.address.port);
    ws.send(options('text-1', 'hello').toString('utf8'));
    ws.send(options('binary-1'), { binary: true });
    const got = await arrived;
    expect(got.map(([m]) => getHeader(m, 'Call-ID'))).toEqual(['text-1', 'binary-1']);
    expect((got[0][0] as SipRequest).method).toBe('OPTIONS');
    expect(got[0][0].body.toString()).toBe('hello');
    expect(got[0][1].equals(options('text-1', 'hello'))).toBe(true);
    const ownPort = (ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    expect(got[0][2]).toMatchObject({
      transport: 'ws',
      remoteHost: '127.0.0.1',
      remotePort: ownPort,
      localPort: t.address.port,
    });
    expect(got[0][2].connectionId).toMatch(/^ws-/);
    expect(got[1][2].connectionId).toBe(got[0][2].connectionId);
  });

  it('sends back over the connection named by connectionId, whatever host:port says', async () => {
    const t = await server();
    const arrived = collect(t, 1);
    const ws = await client(t.address.port);
    ws.send(options('in'));
    const [[, , flow]] = await arrived;
    const frame = nextFrame(ws);
    // The client's port is ephemeral and not listening: only the connection id can reach it.
    await t.send(options('notify-back', 'x'), {
      transport: 'ws',
      host: '192.0.2.1',
      port: 1,
      connectionId: flow.connectionId,
    });
    const { data, isBinary } = await frame;
    expect(isBinary).toBe(false);
    expect(data.toString()).toContain('Call-ID: notify-back');
  });

  it('uses a binary frame for a message whose body is not UTF-8 (RFC 7118 §5.1)', async () => {
    const t = await server();
    const arrived = collect(t, 1);
    const ws = await client(t.address.port);
    ws.send(options('in'));
    const [[, , flow]] = await arrived;
    const frame = nextFrame(ws);
    const cbor = Buffer.from([0x81, 0xa2, 0x00, 0x61, 0x74, 0x02, 0xf9, 0x4d, 0x60, 0xff, 0xfe]);
    await t.send(options('cbor', cbor), {
      transport: 'ws',
      host: '127.0.0.1',
      port: 0,
      connectionId: flow.connectionId,
    });
    const { data, isBinary } = await frame;
    expect(isBinary).toBe(true);
    expect(data.equals(options('cbor', cbor))).toBe(true);
  });

  it("a message that does not parse is 'invalid' and the connection stays usable", async () => {
    const t = await server();
    const ws = await client(t.address.port);
    const invalid = once(t, 'invalid') as Promise<[SipParseError, Buffer, Flow]>;
    ws.send('HELLO THERE\r\n\r\n');
    const [err, raw, flow] = await invalid;
    expect(err.status).toBe(400);
    expect(raw.toString()).toBe('HELLO THERE\r\n\r\n');
    expect(flow.transport).toBe('ws');
    const arrived = collect(t, 1);
    ws.send(options('after-bad'));
    const [[msg, , again]] = await arrived;
    expect(getHeader(msg, 'Call-ID')).toBe('after-bad');
    expect(again.connectionId).toBe(flow.connectionId);
  });

  it("a message over the size limit is 'invalid' with 413", async () => {
    const t = await server({ maxMessageSize: 2048 });
    const ws = await client(t.address.port);
    const invalid = once(t, 'invalid') as Promise<[SipParseError, Buffer, Flow]>;
    ws.send(options('big', 'x'.repeat(3000)).toString());
    const [err] = await invalid;
    // The parser picks the status (413 or 513 by its reading of §21); the transport must pass it up.
    expect([413, 513]).toContain(err.status);
    expect(err.message).toMatch(/too large/i);
  });

  it('answers a CRLFCRLF keep-alive with CRLF and passes nothing up', async () => {
    const t = await server();
    let messages = 0;
    t.on('message', () => messages++);
    t.on('invalid', () => messages++);
    const ws = await client(t.address.port);
    const frame = nextFrame(ws);
    ws.send('\r\n\r\n');
    expect((await frame).data.toString()).toBe('\r\n');
    expect(messages).toBe(0);
  });

  it('closes a connection that stops answering WebSocket pings', async () => {
    const t = await server({ pingIntervalMs: 20 });
    const ws = await client(t.address.port, 'sip', { autoPong: false });
    await once(ws, 'close');
    while (t.connectionIds.length > 0) await new Promise((r) => setTimeout(r, 5));
    expect(t.connectionIds).toHaveLength(0);
  });
});

describe('WsTransport with arbitrary input', () => {
  it('turns every non-keep-alive frame into exactly one message or invalid event, never an error', async () => {
    const t = await server();
    const ws = await client(t.address.port);
    let events = 0;
    let errors = 0;
    let sentinels = 0;
    t.on('message', (msg) => {
      events++;
      if (getHeader(msg, 'Call-ID') === 'sentinel') sentinels++;
    });
    t.on('invalid', () => events++);
    t.on('error', () => errors++);
    const valid = options('mutated').toString('latin1');
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
      // Mutations of a valid message: one byte replaced, or cut short.
      fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
        const bytes = Buffer.from(valid, 'latin1');
        bytes[i] = b;
        return bytes;
      }),
      fc.nat(valid.length).map((n) => Buffer.from(valid.slice(0, n), 'latin1')),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 8 }), async (frames) => {
        const before = events;
        const expected = frames.filter((f) => !f.every((b) => b === 0x0d || b === 0x0a)).length + 1;
        for (const f of frames) ws.send(f, { binary: true });
        const target = sentinels + 1;
        ws.send(options('sentinel'));
        while (sentinels < target) await new Promise((r) => setImmediate(r));
        expect(events - before).toBe(expected);
      }),
      { numRuns: 60 },
    );
    expect(errors).toBe(0);
    expect(t.connectionIds).toHaveLength(1);
  });
});

describe('WsTransport to WsTransport', () => {
  it('opens one outgoing connection, reuses it, and the server answers over it', async () => {
    const b = await server();
    const a = await server();
    const atB = collect(b, 2);
    const dest = { transport: 'ws' as const, host: '127.0.0.1', port: b.address.port };
    await a.send(options('reuse-1'), dest);
    await a.send(options('reuse-2'), dest);
    const got = await atB;
    expect(a.connectionIds).toHaveLength(1);
    expect(got[1][2].connectionId).toBe(got[0][2].connectionId);
    const atA = collect(a, 1);
    await b.send(options('back'), {
      transport: 'ws',
      host: got[0][2].remoteHost,
      port: 1,
      connectionId: got[0][2].connectionId,
    });
    const [[msg, , flow]] = await atA;
    expect(getHeader(msg, 'Call-ID')).toBe('back');
    expect(flow.connectionId).toBe(a.connectionIds[0]);
    expect(flow.remotePort).toBe(b.address.port);
  });

  it('fails clearly when the far end is not a SIP WebSocket server', async () => {
    const plain = http.createServer((_req, res) => res.end('no'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => plain.close(() => resolve())));
    const a = await server();
    const port = (plain.address() as { port: number }).port;
    await expect(a.send(options('x'), { transport: 'ws', host: '127.0.0.1', port })).rejects.toThrow(
      /WebSocket connect to ws:\/\/127\.0\.0\.1/,
    );
  });
});

describe('WsTransport over TLS (WSS)', () => {
  it('is wss when given a certificate and exchanges messages with a verifying client', async () => {
    const pem = selfSignedCertificate();
    const t = await server({ tls: pem });
    expect(t.protocol).toBe('wss');
    const arrived = collect(t, 1);
    const ws = new WebSocket(`wss://127.0.0.1:${t.address.port}/`, 'sip', { ca: pem.cert });
    closers.push(() => {
      ws.terminate();
    });
    await once(ws, 'open');
    ws.send(options('secure'));
    const [[msg, , flow]] = await arrived;
    expect(getHeader(msg, 'Call-ID')).toBe('secure');
    expect(flow.transport).toBe('wss');
    const frame = nextFrame(ws);
    await t.send(options('secure-back'), {
      transport: 'wss',
      host: '127.0.0.1',
      port: 0,
      connectionId: flow.connectionId,
    });
    expect((await frame).data.toString()).toContain('Call-ID: secure-back');
  });

  it('a WSS transport connects out to another, trusting the configured CA', async () => {
    const pem = selfSignedCertificate();
    const b = await server({ tls: pem });
    const a = await server({ tls: pem, clientTls: { ca: pem.cert } });
    const atB = collect(b, 1);
    await a.send(options('wss-out'), { transport: 'wss', host: '127.0.0.1', port: b.address.port });
    const [[msg, , flow]] = await atB;
    expect(getHeader(msg, 'Call-ID')).toBe('wss-out');
    expect(flow.transport).toBe('wss');
  });

  it('refuses to connect out to an untrusted certificate', async () => {
    const pem = selfSignedCertificate();
    const b = await server({ tls: pem });
    const a = await server({ tls: pem });
    await expect(
      a.send(options('x'), { transport: 'wss', host: '127.0.0.1', port: b.address.port }),
    ).rejects.toThrow(/self-signed|certificate/i);
  });
});
