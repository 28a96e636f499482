import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { getHeader } from './headers.js';
import type { SipMessage, SipResponse, TransportProtocol } from './message.js';
import { parseMessage } from './parser.js';
import { createResponse } from './response.js';
import { type ServerTransaction, TransactionLayer } from './transaction-layer.js';
import type { Destination, Flow, SipTransport } from './transport.js';
import { answerCancel } from './uas-cancel.js';

class MemoryTransport extends EventEmitter implements SipTransport {
  readonly protocol: TransportProtocol = 'udp';
  readonly address = { host: '192.0.2.1', port: 5060 };
  readonly sent: SipMessage[] = [];
  listen = () => Promise.resolve();
  close = () => Promise.resolve();
  send(data: Buffer, _to: Destination): Promise<void> {
    this.sent.push(parseMessage(data));
    return Promise.resolve();
  }
  inject(text: string, flow: Flow): void {
    const data = Buffer.from(text);
    this.emit('message', parseMessage(data), data, flow);
  }
}

const flow: Flow = {
  transport: 'udp',
  remoteHost: '198.51.100.7',
  remotePort: 5060,
  localHost: '192.0.2.1',
  localPort: 5060,
};
const request = (method: string, branch: string) =>
  [
    `${method} sip:conf-a@192.0.2.1 SIP/2.0`,
    `Via: SIP/2.0/UDP 198.51.100.7:5060;branch=${branch}`,
    'Max-Forwards: 70',
    'From: <sip:pub@example.com>;tag=f1',
    'To: <sip:conf-a@example.com>',
    'Call-ID: cancel-1',
    `CSeq: 1 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');

function setup() {
  const transport = new MemoryTransport();
  const layer = new TransactionLayer({
    transports: [transport],
    via: { host: '192.0.2.1', port: 5060 },
    clock: new FakeClock(),
  });
  const txs = new Map<string, ServerTransaction | null>();
  layer.onRequest = (req, tx) => txs.set(req.method, tx);
  const finals = () =>
    (transport.sent.filter((m) => m.kind === 'response' && m.status >= 200) as SipResponse[]).map((r) => ({
      status: r.status,
      cseq: getHeader(r, 'CSeq'),
      to: getHeader(r, 'To'),
    }));
  return { transport, layer, txs, finals };
}

describe('answerCancel (§9.2)', () => {
  it('a pending INVITE gets 487 and the CANCEL 200, with the same To tag', () => {
    const { transport, layer, txs, finals } = setup();
    transport.inject(request('INVITE', 'z9hG4bKi1'), flow);
    transport.inject(request('CANCEL', 'z9hG4bKi1'), flow);
    const cancel = txs.get('CANCEL');
    expect(cancel).toBeDefined();
    expect(answerCancel(layer, cancel!.request, cancel!)).toBe('cancelled');
    const [inv487, ok] = finals();
    expect([inv487.status, inv487.cseq, ok.status, ok.cseq]).toEqual([487, '1 INVITE', 200, '1 CANCEL']);
    const tag = /;tag=(\w+)/.exec(inv487.to ?? '')?.[1];
    expect(tag).toBeTruthy();
    expect(ok.to).toContain(`tag=${tag}`);
    // The owner's late answer finds the INVITE transaction closed.
    expect(txs.get('INVITE')?.state).toBe('completed');
  });

  it('after the final response the CANCEL is answered 200 and nothing else changes', () => {
    const { transport, layer, txs, finals } = setup();
    transport.inject(request('INVITE', 'z9hG4bKi2'), flow);
    const invite = txs.get('INVITE')!;
    invite.respond(createResponse(invite.request, 486, undefined, { toTag: 'busy' }));
    transport.inject(request('CANCEL', 'z9hG4bKi2'), flow);
    const cancel = txs.get('CANCEL')!;
    expect(answerCancel(layer, cancel.request, cancel)).toBe('too-late');
    expect(finals().map((f) => f.status)).toEqual([486, 200]);
  });

  it('a CANCEL matching no INVITE gets 481', () => {
    const { transport, layer, txs, finals } = setup();
    transport.inject(request('INVITE', 'z9hG4bKi3'), flow);
    transport.inject(request('CANCEL', 'z9hG4bKother'), flow);
    const cancel = txs.get('CANCEL')!;
    expect(answerCancel(layer, cancel.request, cancel)).toBe('no-match');
    expect(finals().map((f) => f.status)).toEqual([481]);
  });
});
