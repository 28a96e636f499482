// Issue 7 defect 1: no input and no socket event may end the process. A connection reset before it is
// read has no remote address; stamping that into Via made every later parse of the request throw.
import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { getHeaders } from './headers.js';
import type { SipRequest } from './message.js';
import { parseMessage } from './parser.js';
import { TcpTransport } from './tcp-transport.js';
import { serverTransactionKey } from './transaction-key.js';
import { stampVia, TransactionLayer } from './transaction-layer.js';
import type { Flow } from './transport.js';
import { optionsRequest } from './transport.testkit.js';
import { UdpTransport } from './udp-transport.js';
import { parseVia } from './via.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const request = (via: string) =>
  parseMessage(optionsRequest('boundary-1', '', { scheme: 'sip', via })) as SipRequest;

const flow = (remoteHost: string, remotePort: number): Flow => ({
  transport: 'tcp',
  remoteHost,
  remotePort,
  localHost: '127.0.0.1',
  localPort: 5060,
  connectionId: 'tcp-x-1',
});

describe('stampVia', () => {
  it('writes no empty received= for a flow without a source address', () => {
    const req = request('SIP/2.0/TCP 127.0.0.1:49836;branch=z9hG4bKreset1;rport');
    stampVia(req, flow('', 0));
    const top = getHeaders(req, 'Via')[0];
    expect(top).not.toMatch(/received=/);
    expect(() => serverTransactionKey(req)).not.toThrow();
    expect(parseVia(top).branch).toBe('z9hG4bKreset1');
  });

  it('leaves a Via that parses for any flow, with the source recorded when there is one', () => {
    const host = fc.oneof(
      fc.constant(''),
      fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.')),
      fc.constant('::1'),
      fc.constant('2001:db8::7'),
    );
    const via = fc.constantFrom(
      'SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bKp1;rport',
      'SIP/2.0/TCP 10.0.0.5;branch=z9hG4bKp1',
      'SIP/2.0/UDP client.example.com:5070;rport;branch=z9hG4bKp1',
      'SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKp1;rport=1',
    );
    fc.assert(
      fc.property(via, host, fc.integer({ min: 0, max: 65535 }), (v, h, port) => {
        const req = request(v);
        stampVia(req, flow(h, port));
        const stamped = parseVia(getHeaders(req, 'Via')[0]);
        expect(() => serverTransactionKey(req)).not.toThrow();
        if (h === '') expect(stamped.params.received).toBeUndefined();
        else if (stamped.params.received !== undefined) expect(stamped.params.received).toBe(h);
        if (stamped.params.rport !== undefined && stamped.params.rport !== null)
          expect(Number(stamped.params.rport)).toBeGreaterThan(0);
      }),
    );
  });
});

describe('transport callbacks are boundaries', () => {
  it('TCP: a listener that throws is reported as a fault, the connection closed, the transport serves on', async () => {
    const t = new TcpTransport({ host: '127.0.0.1', port: 0 });
    await t.listen();
    closers.push(() => t.close());
    const faults: string[] = [];
    t.on('fault', (err, where) => faults.push(`${where}: ${err.message}`));
    let calls = 0;
    const ids: string[] = [];
    t.on('message', (msg) => {
      calls++;
      if (calls === 1) throw new Error('listener bug');
      ids.push(String(msg.headers.find((h) => h.name === 'Call-ID')?.value));
    });
    const send = async (callId: string) => {
      const s = net.connect({ host: '127.0.0.1', port: t.address.port });
      closers.push(() => {
        s.destroy();
      });
      await once(s, 'connect');
      s.write(
        optionsRequest(callId, '', {
          scheme: 'sip',
          via: `SIP/2.0/TCP 127.0.0.1:${s.localPort};branch=z9hG4bK${callId}`,
        }),
      );
      return s;
    };
    const first = await send('tcp-throws');
    await once(first, 'close'); // the transport ended the connection whose handling failed
    await send('tcp-after');
    for (let i = 0; i < 200 && ids.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(faults).toEqual(['TCP data: listener bug']);
    expect(t.faults).toBe(1);
    expect(ids).toEqual(['tcp-after']);
  });

  it('UDP: a listener that throws is reported as a fault and the next datagram is still delivered', async () => {
    const t = new UdpTransport({ host: '127.0.0.1', port: 0 });
    await t.listen();
    closers.push(() => t.close());
    const faults: string[] = [];
    t.on('fault', (err, where) => faults.push(`${where}: ${err.message}`));
    const ids: string[] = [];
    t.on('message', (msg) => {
      const id = String(msg.headers.find((h) => h.name === 'Call-ID')?.value);
      if (id === 'udp-throws') throw new Error('listener bug');
      ids.push(id);
    });
    const client = dgram.createSocket('udp4');
    closers.push(() => client.close());
    const via = 'SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKu1';
    client.send(optionsRequest('udp-throws', '', { scheme: 'sip', via }), t.address.port, '127.0.0.1');
    client.send(optionsRequest('udp-after', '', { scheme: 'sip', via }), t.address.port, '127.0.0.1');
    for (let i = 0; i < 200 && ids.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(faults).toEqual(['udp message: listener bug']);
    expect(ids).toEqual(['udp-after']);
  });

  it('a transaction layer contains a message it cannot handle, counts it and reports it', async () => {
    // A transport hands over a request whose top Via no parser accepts (as the empty received= made).
    const transport = Object.assign(new EventEmitter(), {
      protocol: 'udp' as const,
      address: { host: '127.0.0.1', port: 5060 },
      listen: () => Promise.resolve(),
      send: () => Promise.resolve(),
      close: () => Promise.resolve(),
    });
    const layer = new TransactionLayer({ transports: [transport], via: { host: '127.0.0.1', port: 5060 } });
    closers.push(() => layer.close());
    const errors: string[] = [];
    layer.onError = (err) => errors.push(err.message);
    const seen: string[] = [];
    layer.onRequest = (req) => seen.push(String(req.headers.find((h) => h.name === 'Call-ID')?.value));
    const broken = request('SIP/2.0/TCP 127.0.0.1:49836;branch=z9hG4bKb1;rport');
    broken.headers = broken.headers.map((h) =>
      h.name === 'Via' ? { ...h, value: 'SIP/2.0/TCP 127.0.0.1:49836;branch=z9hG4bKb1;rport;received=' } : h,
    );
    const udpFlow = { ...flow('127.0.0.1', 5999), transport: 'udp' as const, connectionId: undefined };
    expect(() => transport.emit('message', broken, Buffer.alloc(0), udpFlow)).not.toThrow();
    const fine = request('SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKfine');
    transport.emit('message', fine, Buffer.alloc(0), udpFlow);
    expect(layer.failedMessageCount).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/Malformed Via/);
    expect(seen).toEqual(['boundary-1']);
  });
});
