import { beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { TransactionStateError } from './errors.js';
import { getHeader, getHeaders } from './headers.js';
import { InviteClientTransaction } from './invite-client-transaction.js';
import { InviteServerTransaction } from './invite-server-transaction.js';
import type { SipMessage, SipRequest, SipResponse } from './message.js';
import { NonInviteClientTransaction } from './non-invite-client-transaction.js';
import { NonInviteServerTransaction } from './non-invite-server-transaction.js';
import { parseMessage } from './parser.js';
import { createResponse } from './response.js';
import { serializeMessage } from './serializer.js';
import { DEFAULT_TIMER_SETTINGS } from './timers.js';
import type { TransactionContext } from './transaction.js';
import type { Flow } from './transport.js';

function request(method: string): SipRequest {
  const text = [
    `${method} sip:conf-abc@example.com SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKtx1',
    'Route: <sip:edge.example.com;lr>',
    'Max-Forwards: 70',
    'From: <sip:pub@example.com>;tag=a1',
    'To: <sip:conf-abc@example.com>',
    'Call-ID: tx-test',
    `CSeq: 7 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

const flow: Flow = {
  transport: 'udp',
  remoteHost: '192.0.2.10',
  remotePort: 5060,
  localHost: '127.0.0.1',
  localPort: 5060,
};

let clock: FakeClock;
let sent: Array<{ at: number; msg: SipMessage }>;
const ctx = (reliable = false): TransactionContext => ({
  clock,
  timers: { ...DEFAULT_TIMER_SETTINGS },
  reliable,
  send: (msg) => {
    sent.push({ at: clock.now(), msg });
    return Promise.resolve();
  },
});
const sendTimes = () => sent.map((s) => s.at);

beforeEach(() => {
  clock = new FakeClock();
  sent = [];
});

describe('NonInviteClientTransaction (§17.1.2)', () => {
  it('Timer E doubles up to T2, Timer F ends it with a timeout at 64*T1', () => {
    const tx = new NonInviteClientTransaction(request('SUBSCRIBE'), 'k', ctx());
    const events: string[] = [];
    tx.on('timeout', () => events.push('timeout'));
    tx.start();
    clock.advance(31_999);
    expect(sendTimes()).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(tx.state).toBe('trying');
    clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(events).toEqual(['timeout']);
    clock.advance(60_000);
    expect(sent).toHaveLength(11);
  });

  it('retransmits every T2 in Proceeding; the final response moves to Completed and Timer K ends it', () => {
    const req = request('NOTIFY');
    const tx = new NonInviteClientTransaction(req, 'k', ctx());
    const responses: number[] = [];
    tx.on('response', (res: SipResponse) => responses.push(res.status));
    tx.start();
    clock.advance(600); // one retransmission at 500
    tx.receiveResponse(createResponse(req, 100));
    expect(tx.state).toBe('proceeding');
    clock.advance(10_000);
    expect(sendTimes()).toEqual([0, 500, 1500, 5500, 9500]);
    tx.receiveResponse(createResponse(req, 200));
    expect(tx.state).toBe('completed');
    tx.receiveResponse(createResponse(req, 200)); // retransmission absorbed
    expect(responses).toEqual([100, 200]);
    clock.advance(DEFAULT_TIMER_SETTINGS.T4 - 1);
    expect(tx.state).toBe('completed');
    clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(sent).toHaveLength(5);
  });

  it('on a reliable transport sends once and terminates at once after the final response', () => {
    const req = request('OPTIONS');
    const tx = new NonInviteClientTransaction(req, 'k', ctx(true));
    tx.start();
    clock.advance(20_000);
    expect(sendTimes()).toEqual([0]);
    tx.receiveResponse(createResponse(req, 200));
    expect(tx.state).toBe('terminated');
  });

  it('rejects illegal moves', () => {
    const tx = new NonInviteClientTransaction(request('OPTIONS'), 'k', ctx());
    expect(() => tx.timerK()).toThrow(TransactionStateError);
    tx.start();
    expect(() => tx.start()).toThrow();
  });
});

describe('InviteClientTransaction (§17.1.1)', () => {
  it('Timer A doubles without cap and Timer B times out at 64*T1', () => {
    const tx = new InviteClientTransaction(request('INVITE'), 'k', ctx());
    let timedOut = false;
    tx.on('timeout', () => {
      timedOut = true;
    });
    tx.start();
    clock.advance(32_000);
    expect(sendTimes()).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(timedOut).toBe(true);
    expect(tx.state).toBe('terminated');
  });

  it('a provisional stops retransmissions; a 2xx terminates it', () => {
    const req = request('INVITE');
    const tx = new InviteClientTransaction(req, 'k', ctx());
    const seen: number[] = [];
    tx.on('response', (res: SipResponse) => seen.push(res.status));
    tx.start();
    tx.receiveResponse(createResponse(req, 180, undefined, { toTag: 'b2' }));
    clock.advance(100_000);
    expect(sendTimes()).toEqual([0]);
    expect(tx.state).toBe('proceeding');
    tx.receiveResponse(createResponse(req, 200, undefined, { toTag: 'b2' }));
    expect(tx.state).toBe('terminated');
    expect(seen).toEqual([180, 200]);
  });

  it('ACKs a non-2xx itself (§17.1.1.3), re-ACKs retransmissions, Timer D ends it', () => {
    const req = request('INVITE');
    const tx = new InviteClientTransaction(req, 'k', ctx());
    const seen: number[] = [];
    tx.on('response', (res: SipResponse) => seen.push(res.status));
    tx.start();
    const busy = createResponse(req, 486, undefined, { toTag: 'b9' });
    tx.receiveResponse(busy);
    expect(tx.state).toBe('completed');
    const ack = sent[1].msg as SipRequest;
    expect(serializeMessage(ack).toString()).toBe(
      [
        'ACK sip:conf-abc@example.com SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKtx1',
        'Max-Forwards: 70',
        'From: <sip:pub@example.com>;tag=a1',
        'To: <sip:conf-abc@example.com>;tag=b9',
        'Call-ID: tx-test',
        'CSeq: 7 ACK',
        'Route: <sip:edge.example.com;lr>',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    clock.advance(1000);
    tx.receiveResponse(busy);
    expect(sent.map((s) => (s.msg.kind === 'request' ? s.msg.method : ''))).toEqual(['INVITE', 'ACK', 'ACK']);
    expect(seen).toEqual([486]);
    clock.advance(30_999);
    expect(tx.state).toBe('completed');
    clock.advance(1);
    expect(tx.state).toBe('terminated');
  });

  it('Timer D is zero on a reliable transport', () => {
    const req = request('INVITE');
    const tx = new InviteClientTransaction(req, 'k', ctx(true));
    tx.start();
    tx.receiveResponse(createResponse(req, 603, undefined, { toTag: 'x' }));
    expect(tx.state).toBe('terminated');
  });
});

describe('InviteServerTransaction (§17.2.1)', () => {
  it('retransmits a non-2xx with Timer G capped at T2 and gives up with Timer H', () => {
    const req = request('INVITE');
    const tx = new InviteServerTransaction(req, flow, 'k', ctx());
    let timedOut = false;
    tx.on('timeout', () => {
      timedOut = true;
    });
    tx.respond(createResponse(req, 100));
    tx.respond(createResponse(req, 404, undefined, { toTag: 'z' }));
    expect(tx.state).toBe('completed');
    clock.advance(31_999);
    const finals = sent.filter((s) => (s.msg as SipResponse).status === 404).map((s) => s.at);
    expect(finals).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(timedOut).toBe(true);
  });

  it('the ACK confirms it, stops Timer G, further ACKs are absorbed, Timer I ends it', () => {
    const req = request('INVITE');
    const tx = new InviteServerTransaction(req, flow, 'k', ctx());
    tx.respond(createResponse(req, 486, undefined, { toTag: 'z' }));
    clock.advance(600);
    tx.receiveRequest(request('ACK'));
    expect(tx.state).toBe('confirmed');
    tx.receiveRequest(request('ACK'));
    tx.receiveRequest(request('INVITE'));
    clock.advance(DEFAULT_TIMER_SETTINGS.T4 - 1);
    expect(sendTimes()).toEqual([0, 500]);
    expect(tx.state).toBe('confirmed');
    clock.advance(1);
    expect(tx.state).toBe('terminated');
  });

  it('answers retransmitted INVITEs with the last response', () => {
    const req = request('INVITE');
    const tx = new InviteServerTransaction(req, flow, 'k', ctx());
    tx.receiveRequest(request('INVITE')); // nothing sent yet: nothing to repeat
    expect(sent).toHaveLength(0);
    tx.respond(createResponse(req, 180, undefined, { toTag: 'z' }));
    tx.receiveRequest(request('INVITE'));
    expect(sent.map((s) => (s.msg as SipResponse).status)).toEqual([180, 180]);
  });

  it('a 2xx terminates it and is announced for the TU to retransmit', () => {
    const req = request('INVITE');
    const tx = new InviteServerTransaction(req, flow, 'k', ctx());
    const accepted: number[] = [];
    tx.on('accepted', (res: SipResponse) => accepted.push(res.status));
    tx.respond(createResponse(req, 200, undefined, { toTag: 'z' }));
    expect(tx.state).toBe('terminated');
    expect(accepted).toEqual([200]);
    expect(() => tx.respond(createResponse(req, 200))).toThrow(TransactionStateError);
  });

  it('on a reliable transport: no Timer G, Timer I zero', () => {
    const req = request('INVITE');
    const tx = new InviteServerTransaction(req, flow, 'k', ctx(true));
    tx.respond(createResponse(req, 480, undefined, { toTag: 'z' }));
    clock.advance(10_000);
    expect(sendTimes()).toEqual([0]);
    tx.receiveRequest(request('ACK'));
    expect(tx.state).toBe('terminated');
  });

  it('rejects illegal moves', () => {
    const req = request('INVITE');
    const tx = new InviteServerTransaction(req, flow, 'k', ctx());
    expect(() => tx.timerG()).toThrow(TransactionStateError);
    expect(() => tx.timerI()).toThrow(TransactionStateError);
    tx.respond(createResponse(req, 500));
    expect(() => tx.respond(createResponse(req, 500))).toThrow(/not allowed in state 'completed'/);
  });
});

describe('NonInviteServerTransaction (§17.2.2)', () => {
  it('absorbs retransmissions in Trying, repeats the provisional, then the final; Timer J ends it', () => {
    const req = request('SUBSCRIBE');
    const tx = new NonInviteServerTransaction(req, flow, 'k', ctx());
    tx.receiveRequest(request('SUBSCRIBE'));
    expect(sent).toHaveLength(0);
    tx.respond(createResponse(req, 100));
    expect(tx.state).toBe('proceeding');
    tx.receiveRequest(request('SUBSCRIBE'));
    tx.respond(createResponse(req, 202, undefined, { toTag: 'n' }));
    expect(tx.state).toBe('completed');
    tx.receiveRequest(request('SUBSCRIBE'));
    expect(sent.map((s) => (s.msg as SipResponse).status)).toEqual([100, 100, 202, 202]);
    expect(getHeader(sent[3].msg, 'To')).toBe('<sip:conf-abc@example.com>;tag=n');
    clock.advance(64 * 500 - 1);
    expect(tx.state).toBe('completed');
    clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(() => tx.respond(createResponse(req, 200))).toThrow(TransactionStateError);
  });

  it('Timer J is zero on a reliable transport', () => {
    const req = request('PUBLISH');
    const tx = new NonInviteServerTransaction(req, flow, 'k', ctx(true));
    tx.respond(createResponse(req, 200));
    expect(tx.state).toBe('terminated');
  });

  it('a transport error terminates it and is reported', async () => {
    const req = request('BYE');
    const failing: TransactionContext = { ...ctx(), send: () => Promise.reject(new Error('ECONNRESET')) };
    const tx = new NonInviteServerTransaction(req, flow, 'k', failing);
    const errors: string[] = [];
    tx.on('transportError', (err: Error) => errors.push(err.message));
    tx.respond(createResponse(req, 200));
    await Promise.resolve();
    await Promise.resolve();
    expect(errors).toEqual(['ECONNRESET']);
    expect(tx.state).toBe('terminated');
    expect(getHeaders(req, 'Via')).toHaveLength(1);
  });
});
