// The transports consult their intake hook on the raw bytes before parsing: a refused message is never
// parsed or delivered, and a rejection's response goes back on the flow it came on (to its source only).
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SourceIntakeGate } from './intake-gate.js';
import { TcpTransport } from './tcp-transport.js';
import { optionsRequest } from './transport.testkit.js';
import { UdpTransport } from './udp-transport.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const gate = () =>
  new SourceIntakeGate({
    newRequests: { rate: 0.001, burst: 1 },
    inDialog: null,
    rejections: { rate: 0.001, burst: 1 },
  });

describe('intake before parsing', () => {
  it('UDP: one passes, the next gets a stateless 503 at its source, the third is dropped; none parsed', async () => {
    const t = new UdpTransport({ host: '127.0.0.1', port: 0 });
    await t.listen();
    closers.push(() => t.close());
    const g = gate();
    t.intake = (data, flow) => g.check(data, flow.remoteHost);
    const delivered: string[] = [];
    t.on('message', (msg) => delivered.push(String(msg.headers.find((h) => h.name === 'Call-ID')?.value)));
    const invalid: string[] = [];
    t.on('invalid', (err) => invalid.push(err.message));
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    closers.push(() => client.close());
    const replies: string[] = [];
    client.on('message', (m) => replies.push(m.toString('latin1')));
    // The Via names another port: a stateless answer must still go to the packet's source.
    const via = 'SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKin1';
    for (const id of ['in-1', 'in-2', 'in-3'])
      client.send(optionsRequest(id, '', { scheme: 'sip', via }), t.address.port, '127.0.0.1');
    for (let i = 0; i < 200 && (delivered.length < 1 || replies.length < 1); i++)
      await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    expect(delivered).toEqual(['in-1']);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatch(/^SIP\/2\.0 503 Rate Limit Exceeded\r\n/);
    expect(replies[0]).toMatch(/\r\nCall-ID: in-2\r\n/);
    expect(replies[0]).toMatch(/\r\nRetry-After: \d+\r\n/);
    expect(invalid).toEqual([]);
  });

  it('TCP: the rejection is written on the connection the request came on', async () => {
    const t = new TcpTransport({ host: '127.0.0.1', port: 0 });
    await t.listen();
    closers.push(() => t.close());
    const g = gate();
    t.intake = (data, flow) => g.check(data, flow.remoteHost);
    const delivered: string[] = [];
    t.on('message', (msg) => delivered.push(String(msg.headers.find((h) => h.name === 'Call-ID')?.value)));
    const s = net.connect({ host: '127.0.0.1', port: t.address.port });
    closers.push(() => {
      s.destroy();
    });
    await once(s, 'connect');
    let received = '';
    s.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    const via = `SIP/2.0/TCP 127.0.0.1:${s.localPort};branch=z9hG4bKtin`;
    s.write(Buffer.concat(['t-1', 't-2'].map((id) => optionsRequest(id, '', { scheme: 'sip', via }))));
    for (let i = 0; i < 200 && !received.includes('\r\n\r\n'); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(delivered).toEqual(['t-1']);
    expect(received).toMatch(/^SIP\/2\.0 503 Rate Limit Exceeded\r\n[\s\S]*\r\nCall-ID: t-2\r\n/);
  });
});
