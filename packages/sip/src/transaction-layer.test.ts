import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCancel } from './cancel.js';
import { FakeClock } from './clock.js';
import type { SipParseError } from './errors.js';
import { getHeader, getHeaders } from './headers.js';
import type { InviteServerTransaction } from './invite-server-transaction.js';
import type { SipMessage, SipRequest, SipResponse, TransportProtocol } from './message.js';
import { parseMessage } from './parser.js';
import { createRequest } from './request.js';
import { createResponse } from './response.js';
import { serializeMessage } from './serializer.js';
import { type ServerTransaction, TransactionLayer } from './transaction-layer.js';
import type { Destination, Flow, SipTransport } from './transport.js';
import { UdpTransport } from './udp-transport.js';
import { parseVia } from './via.js';

/** In-memory transport: records what the layer sends, injects what a peer would send. */
class MemoryTransport extends EventEmitter implements SipTransport {
  readonly address = { host: '192.0.2.1', port: 5060 };
  readonly sent: Array<{ at: number; msg: SipMessage; to: Destination }> = [];
  constructor(
    private readonly clock: FakeClock,
    readonly protocol: TransportProtocol = 'udp',
  ) {
    super();
  }
  listen(): Promise<void> {
    return Promise.resolve();
  }
  send(data: Buffer, to: Destination): Promise<void> {
    this.sent.push({ at: this.clock.now(), msg: parseMessage(data), to });
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  inject(text: string, flow: Flow): void {
    const data = Buffer.from(text);
    try {
      this.emit('message', parseMessage(data), data, flow);
    } catch (err) {
      this.emit('invalid', err as SipParseError, data, flow);
    }
  }
}

const peer: Flow = {
  transport: 'udp',
  remoteHost: '198.51.100.7',
  remotePort: 40001,
  localHost: '192.0.2.1',
  localPort: 5060,
};
const invite = (branch = 'z9hG4bKinv1', method = 'INVITE', cseq = '1 INVITE') =>
  [
    `${method} sip:conf-abc@192.0.2.1 SIP/2.0`,
    `Via: SIP/2.0/UDP 10.0.0.5:5060;branch=${branch};rport`,
    'Max-Forwards: 70',
    'From: <sip:pub@example.com>;tag=f1',
    `To: <sip:conf-abc@example.com>${method === 'ACK' ? ';tag=t1' : ''}`,
    'Call-ID: layer-1',
    `CSeq: ${cseq}`,
    'Contact: <sip:pub@10.0.0.5>',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');

describe('TransactionLayer with a fake clock', () => {
  let clock: FakeClock;
  let transport: MemoryTransport;
  let layer: TransactionLayer;
  let requests: Array<{ req: SipRequest; tx: ServerTransaction | null }>;

  beforeEach(() => {
    clock = new FakeClock();
    transport = new MemoryTransport(clock);
    layer = new TransactionLayer({ transports: [transport], via: { host: '192.0.2.1', port: 5060 }, clock });
    requests = [];
    layer.onRequest = (req, tx) => requests.push({ req, tx });
  });
  afterEach(() => layer.close());

  it('sends 100 Trying at once to received/rport and absorbs the retransmitted INVITE', () => {
    transport.inject(invite(), peer);
    transport.inject(invite(), peer);
    expect(requests).toHaveLength(1);
    expect(layer.getServerTransaction(requests[0].tx!.id)).toBe(requests[0].tx);
    const statuses = transport.sent.map((s) => (s.msg as SipResponse).status);
    expect(statuses).toEqual([100, 100]);
    expect(transport.sent[0].to).toEqual({ transport: 'udp', host: '198.51.100.7', port: 40001 });
    expect(getHeader(transport.sent[0].msg, 'Via')).toBe(
      'SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKinv1;rport=40001;received=198.51.100.7',
    );
  });

  it('retransmits a 2xx (T1 doubling to T2) until the ACK, which reaches the TU with tx = null', () => {
    transport.inject(invite(), peer);
    const { req, tx } = requests[0];
    tx!.respond(createResponse(req, 200, undefined, { toTag: 't1' }));
    clock.advance(8_000);
    const okTimes = transport.sent.filter((s) => (s.msg as SipResponse).status === 200).map((s) => s.at);
    expect(okTimes).toEqual([0, 500, 1500, 3500, 7500]);
    transport.inject(invite(), peer); // INVITE retransmission after the 2xx: answered with the 2xx, not the TU
    expect(requests).toHaveLength(1);
    transport.inject(invite('z9hG4bKack1', 'ACK', '1 ACK'), peer);
    transport.inject(invite('z9hG4bKack1', 'ACK', '1 ACK'), peer);
    expect(requests.map((r) => [r.req.method, r.tx])).toEqual([
      ['INVITE', requests[0].tx],
      ['ACK', null],
    ]);
    const before = transport.sent.length;
    clock.advance(60_000);
    expect(transport.sent.length).toBe(before);
  });

  it('calls onAckTimeout when no ACK comes within 64*T1', () => {
    const timeouts: Array<[string, number]> = [];
    layer.onAckTimeout = (callId, cseq) => timeouts.push([callId, cseq]);
    transport.inject(invite(), peer);
    requests[0].tx!.respond(createResponse(requests[0].req, 200, undefined, { toTag: 't1' }));
    clock.advance(31_999);
    expect(timeouts).toEqual([]);
    clock.advance(1);
    expect(timeouts).toEqual([['layer-1', 1]]);
    const okTimes = transport.sent.filter((s) => (s.msg as SipResponse).status === 200).map((s) => s.at);
    expect(okTimes).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
  });

  it('the ACK to a non-2xx is absorbed by the INVITE server transaction', () => {
    transport.inject(invite(), peer);
    requests[0].tx!.respond(createResponse(requests[0].req, 486, undefined, { toTag: 't1' }));
    transport.inject(invite('z9hG4bKinv1', 'ACK', '1 ACK'), peer);
    expect(requests).toHaveLength(1);
    expect(requests[0].tx!.state).toBe('confirmed');
  });

  it('request(): adds Via and Max-Forwards, passes provisionals, resolves the final; timeout gives 408', async () => {
    const req = createRequest({
      method: 'SUBSCRIBE',
      uri: 'sip:conf-abc@198.51.100.7',
      from: { uri: 'sip:watcher@example.com', params: {} },
      to: { uri: 'sip:conf-abc@example.com', params: {} },
      headers: [{ name: 'Event', value: 'conference' }],
    });
    const provisional: number[] = [];
    const done = layer.request(
      req,
      { transport: 'udp', host: '198.51.100.7', port: 5060 },
      {
        onProvisional: (res) => provisional.push(res.status),
      },
    );
    const sentReq = transport.sent[0].msg as SipRequest;
    const via = parseVia(getHeaders(sentReq, 'Via')[0]);
    expect(via).toMatchObject({ transport: 'UDP', host: '192.0.2.1', port: 5060 });
    expect(via.params.rport).toBeNull();
    expect(via.branch).toMatch(/^z9hG4bK.{16,}$/);
    expect(getHeader(sentReq, 'Max-Forwards')).toBe('70');
    const answer = (status: number) => {
      const res = createResponse(sentReq, status, undefined, { toTag: 'n1' });
      transport.inject(serializeMessage(res).toString(), peer);
    };
    answer(100);
    answer(202);
    answer(202); // retransmission absorbed
    const final = await done;
    expect(final.status).toBe(202);
    expect(provisional).toEqual([100]);

    const lost = layer.request(
      createRequest({
        method: 'OPTIONS',
        uri: 'sip:x@198.51.100.9',
        from: { uri: 'sip:a@example.com', params: {} },
        to: { uri: 'sip:x@example.com', params: {} },
      }),
      { transport: 'udp', host: '198.51.100.9', port: 5060 },
    );
    clock.advance(32_000);
    expect((await lost).status).toBe(408);
  });

  it('hands responses that match no transaction to onStrayResponse and drops ones with a foreign Via', () => {
    const strays: number[] = [];
    layer.onStrayResponse = (res) => strays.push(res.status);
    const response = (host: string) =>
      `SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP ${host}:5060;branch=z9hG4bKgone\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: s\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`;
    transport.inject(response('192.0.2.1'), peer);
    transport.inject(response('203.0.113.1'), peer);
    expect(strays).toEqual([200]);
  });

  it('answers unparseable requests statelessly with the parser status, never an ACK', () => {
    const invalid: number[] = [];
    layer.onInvalid = (err) => invalid.push(err.status);
    transport.inject(invite().replace('SIP/2.0\r\n', 'SIP/3.0\r\n'), peer);
    transport.inject(invite('z9hG4bKa', 'ACK', '1 ACK').replace('CSeq: 1 ACK\r\n', ''), peer);
    transport.inject(invite().replace(/Via: [^\r]*\r\n/, ''), peer);
    expect(invalid).toEqual([505, 400, 400]);
    expect(transport.sent).toHaveLength(1);
    const res = transport.sent[0].msg as SipResponse;
    expect([res.status, res.reason]).toEqual([505, 'SIP version not supported: SIP/3.0']);
    expect(transport.sent[0].to).toEqual({ transport: 'udp', host: '198.51.100.7', port: 40001 });
    expect(requests).toHaveLength(0);
  });

  it('drops a non-INVITE server transaction the TU never answers after 64*T1', () => {
    const errors: string[] = [];
    layer.onError = (err) => errors.push(err.message);
    transport.inject(invite('z9hG4bKopt', 'OPTIONS', '1 OPTIONS'), peer);
    expect(layer.serverTransactionCount).toBe(1);
    clock.advance(32_000);
    expect(layer.serverTransactionCount).toBe(0);
    expect(errors).toEqual(['OPTIONS layer-1 was never answered']);
  });

  it('answers 500 when the TU throws, and reports the error', () => {
    const errors: string[] = [];
    layer.onError = (err) => errors.push(err.message);
    layer.onRequest = () => {
      throw new Error('boom');
    };
    transport.inject(invite('z9hG4bKopt', 'OPTIONS', '1 OPTIONS'), peer);
    expect(errors).toEqual(['boom']);
    expect(transport.sent.map((s) => (s.msg as SipResponse).status)).toEqual([500]);
  });
});

describe('TransactionLayer with a sent-by port per transport', () => {
  const options = (n: number) =>
    createRequest({
      method: 'OPTIONS',
      uri: 'sip:conf-abc@198.51.100.7',
      from: { uri: 'sip:focus@example.com', params: {} },
      to: { uri: 'sip:conf-abc@example.com', params: {} },
      callId: `ports-${n}`,
    });
  const tlsPeer: Flow = { ...peer, transport: 'tls', localPort: 5061, connectionId: 'c1' };
  const tlsTo: Destination = { transport: 'tls', host: '198.51.100.7', port: 5061 };
  const topVia = (t: MemoryTransport, i = 0) => getHeaders(t.sent[i].msg, 'Via')[0];
  let clock: FakeClock;
  let udp: MemoryTransport;
  let tls: MemoryTransport;
  let layer: TransactionLayer;

  beforeEach(() => {
    clock = new FakeClock();
    udp = new MemoryTransport(clock, 'udp');
    tls = new MemoryTransport(clock, 'tls');
    layer = new TransactionLayer({
      transports: [udp, tls],
      via: { host: '192.0.2.1', port: 5060, ports: { tls: 5061 } },
      clock,
    });
  });
  afterEach(() => layer.close());

  it('names the port of the transport the request goes over, and the shared port for the others', () => {
    void layer.request(options(1), { transport: 'udp', host: '198.51.100.7', port: 5060 });
    void layer.request(options(2), tlsTo);
    expect(topVia(udp)).toMatch(/^SIP\/2\.0\/UDP 192\.0\.2\.1:5060;branch=z9hG4bK/);
    expect(topVia(tls)).toMatch(/^SIP\/2\.0\/TLS 192\.0\.2\.1:5061;branch=z9hG4bK/);
  });

  it('takes responses carrying its TLS sent-by as its own and drops ones with the UDP port in a TLS Via', async () => {
    const strays: string[] = [];
    layer.onStrayResponse = (res) => strays.push(getHeader(res, 'Call-ID') ?? '');
    const done = layer.request(options(3), tlsTo);
    const sent = tls.sent[0].msg as SipRequest;
    const ok = serializeMessage(createResponse(sent, 200, undefined, { toTag: 'n1' })).toString();
    tls.inject(ok.replace('192.0.2.1:5061', '192.0.2.1:5060').replace(/z9hG4bK\w+/, 'z9hG4bKother'), tlsPeer);
    tls.inject(ok.replace(/z9hG4bK\w+/, 'z9hG4bKother'), tlsPeer);
    tls.inject(ok, tlsPeer);
    expect((await done).status).toBe(200);
    expect(strays).toEqual(['ports-3']); // the second: ours but matching no transaction; the first dropped
  });

  it('keeps the INVITE branch for a CANCEL sent over TLS (§9.1)', () => {
    const inv = createRequest({
      method: 'INVITE',
      uri: 'sip:conf-abc@198.51.100.7',
      from: { uri: 'sip:focus@example.com', params: {} },
      to: { uri: 'sip:conf-abc@example.com', params: {} },
    });
    void layer.request(inv, tlsTo);
    const sentInvite = tls.sent[0].msg as SipRequest;
    void layer.request(createCancel(sentInvite), tlsTo);
    expect(tls.sent[1].msg).toMatchObject({ kind: 'request', method: 'CANCEL' });
    expect(topVia(tls, 1)).toBe(topVia(tls, 0));
  });

  it('still uses the one port for every transport when no per-transport port is given', () => {
    const shared = new TransactionLayer({
      transports: [udp, tls],
      via: { host: '192.0.2.1', port: 5070 },
      clock,
    });
    void shared.request(options(4), tlsTo);
    expect(topVia(tls)).toMatch(/^SIP\/2\.0\/TLS 192\.0\.2\.1:5070;/);
    void shared.close();
  });
});

describe('TransactionLayer over UDP on 127.0.0.1', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  async function node(): Promise<{ transport: UdpTransport; layer: TransactionLayer }> {
    const transport = new UdpTransport({ host: '127.0.0.1', port: 0 });
    await transport.listen();
    const layer = new TransactionLayer({ transports: [transport], via: transport.address });
    closers.push(async () => {
      await layer.close();
      await transport.close();
    });
    return { transport, layer };
  }

  it('request → final response between two layers', async () => {
    const a = await node();
    const b = await node();
    b.layer.onRequest = (req, tx) => {
      tx!.respond(
        createResponse(req, 200, undefined, {
          toTag: 'b',
          headers: [{ name: 'Allow-Events', value: 'conference' }],
        }),
      );
    };
    const res = await a.layer.request(
      createRequest({
        method: 'OPTIONS',
        uri: `sip:conf-abc@127.0.0.1:${b.transport.address.port}`,
        from: { uri: 'sip:a@example.com', params: {} },
        to: { uri: 'sip:conf-abc@example.com', params: {} },
      }),
      { transport: 'udp', host: '127.0.0.1', port: b.transport.address.port },
    );
    expect(res.status).toBe(200);
    expect(getHeader(res, 'Allow-Events')).toBe('conference');
    const via = parseVia(getHeader(res, 'Via')!);
    expect(via.params.rport).toBe(String(a.transport.address.port));
    expect(via.params.received).toBe('127.0.0.1');
  });

  it('CANCEL: same branch as the INVITE, 200 to the CANCEL, 487 to the INVITE and its ACK', async () => {
    const a = await node();
    const b = await node();
    const seen: string[] = [];
    let ringing: ServerTransaction | null = null;
    let confirmed: Promise<void> | undefined;
    b.layer.onRequest = (req, tx) => {
      seen.push(req.method);
      if (req.method === 'INVITE') {
        ringing = tx;
        confirmed = new Promise((resolve) => {
          (tx as InviteServerTransaction).on('stateChange', (state) => state === 'confirmed' && resolve());
        });
        tx!.respond(createResponse(req, 180, undefined, { toTag: 'r' }));
      } else if (req.method === 'CANCEL') {
        const inviteTx = b.layer.findInviteServerTransaction(req);
        expect(inviteTx).toBe(ringing);
        tx!.respond(createResponse(req, 200));
        inviteTx!.respond(createResponse(inviteTx!.request, 487, undefined, { toTag: 'r' }));
      }
    };
    const dest = { transport: 'udp' as const, host: '127.0.0.1', port: b.transport.address.port };
    const inviteReq = createRequest({
      method: 'INVITE',
      uri: `sip:conf-abc@127.0.0.1:${dest.port}`,
      from: { uri: 'sip:a@example.com', params: {} },
      to: { uri: 'sip:conf-abc@example.com', params: {} },
    });
    let cancelled: Promise<SipResponse> | undefined;
    const final = a.layer.request(inviteReq, dest, {
      onProvisional: () => {
        const cancel = createCancel(inviteReq);
        expect(parseVia(getHeader(cancel, 'Via')!).branch).toBe(
          parseVia(getHeader(inviteReq, 'Via')!).branch,
        );
        cancelled = a.layer.request(cancel, dest);
      },
    });
    expect((await final).status).toBe(487);
    expect((await cancelled!).status).toBe(200);
    await confirmed; // the INVITE client transaction's ACK reached the server transaction
    expect(seen).toEqual(['INVITE', 'CANCEL']);
  });

  it('answers 400 naming the header to a datagram missing CSeq', async () => {
    const b = await node();
    const invalid: SipParseError[] = [];
    b.layer.onInvalid = (err) => invalid.push(err);
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => socket.close(() => resolve())));
    const reply = once(socket, 'message') as Promise<[Buffer]>;
    const bad = [
      `OPTIONS sip:conf-abc@127.0.0.1 SIP/2.0`,
      'Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKnocseq;rport',
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:conf-abc@example.com>',
      'Call-ID: no-cseq',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    socket.send(bad, b.transport.address.port, '127.0.0.1');
    const [data] = await reply;
    // The answer cannot carry a CSeq either, so our own parser rejects it; its partial holds the rest.
    let res: Partial<SipResponse> | undefined;
    try {
      parseMessage(data);
    } catch (err) {
      res = (err as SipParseError).partial as Partial<SipResponse>;
    }
    expect(res?.status).toBe(400);
    expect(res?.reason).toBe('Missing CSeq header');
    const header = (name: string) => res?.headers?.find((h) => h.name === name)?.value;
    expect(header('Call-ID')).toBe('no-cseq');
    expect(header('CSeq')).toBeUndefined();
    expect(parseVia(header('Via')!).params.rport).toBe(String(socket.address().port));
    expect(invalid.map((e) => e.status)).toEqual([400]);
  });
});
