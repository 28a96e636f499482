import { parseMessage, type SipRequest, type SipResponse, serializeMessage } from '@sip-pubsub/sip';
import { describe, expect, it } from 'vitest';
import { createAckFor2xx, SentAcks, UacAckError } from './uac-ack.js';

// A re-INVITE from the focus to a participant, as the edge sent it, and the participant's 2xx.
const reinvite = [
  'INVITE sip:alice@192.0.2.7:5070;transport=udp SIP/2.0',
  'Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-invite-1;rport',
  'Max-Forwards: 70',
  'From: <sip:conf-abc@example.net>;tag=focus-tag',
  'To: <sip:alice@example.net>;tag=alice-tag',
  'Call-ID: call-1@192.0.2.7',
  'CSeq: 3 INVITE',
  'Route: <sip:proxy.example.net;lr>',
  'Proxy-Authorization: Digest username="focus", realm="example.net", nonce="n", uri="sip:alice@192.0.2.7", response="r"',
  'Contact: <sip:conf-abc@example.net>;isfocus',
  'Content-Type: application/sdp',
  'Content-Length: 4',
  '',
  'v=0\n',
].join('\r\n');

const ok = (contact?: string) =>
  [
    'SIP/2.0 200 OK',
    'Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-invite-1;rport=5060',
    'From: <sip:conf-abc@example.net>;tag=focus-tag',
    'To: <sip:alice@example.net>;tag=alice-tag',
    'Call-ID: call-1@192.0.2.7',
    'CSeq: 3 INVITE',
    ...(contact ? [`Contact: ${contact}`] : []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');

function request(text: string): SipRequest {
  const msg = parseMessage(Buffer.from(text));
  if (msg.kind !== 'request') throw new Error('not a request');
  return msg;
}

function response(text: string): SipResponse {
  const msg = parseMessage(Buffer.from(text));
  if (msg.kind !== 'response') throw new Error('not a response');
  return msg;
}

describe('createAckFor2xx (RFC 3261 §13.2.2.4)', () => {
  it('acknowledges in the dialog: new target from the 2xx Contact, same CSeq number, Route and credentials kept', () => {
    const ack = createAckFor2xx(request(reinvite), response(ok('<sip:alice@192.0.2.8:5072>')));
    expect(serializeMessage(ack).toString()).toBe(
      [
        'ACK sip:alice@192.0.2.8:5072 SIP/2.0',
        'Max-Forwards: 70',
        'From: <sip:conf-abc@example.net>;tag=focus-tag',
        'To: <sip:alice@example.net>;tag=alice-tag',
        'Call-ID: call-1@192.0.2.7',
        'CSeq: 3 ACK',
        'Route: <sip:proxy.example.net;lr>',
        'Proxy-Authorization: Digest username="focus", realm="example.net", nonce="n", uri="sip:alice@192.0.2.7", response="r"',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
  });

  it('keeps the INVITE Request-URI when the 2xx has no Contact, and carries no Via of its own', () => {
    const ack = createAckFor2xx(request(reinvite), response(ok()));
    expect(ack.uri).toBe('sip:alice@192.0.2.7:5070;transport=udp');
    expect(ack.headers.some((h) => h.name === 'Via')).toBe(false);
  });

  it('refuses a non-2xx and a non-INVITE', () => {
    const bad = response(ok().replace('200 OK', '486 Busy Here'));
    expect(() => createAckFor2xx(request(reinvite), bad)).toThrow(UacAckError);
    const bye = request(reinvite.replace('INVITE sip:', 'BYE sip:').replace('3 INVITE', '3 BYE'));
    expect(() => createAckFor2xx(bye, response(ok()))).toThrow(UacAckError);
  });

  it('refuses a 2xx without a To tag', () => {
    const untagged = response(ok().replace(';tag=alice-tag', ''));
    expect(() => createAckFor2xx(request(reinvite), untagged)).toThrow(/no tag/);
  });
});

describe('SentAcks', () => {
  const to = { transport: 'udp' as const, host: '192.0.2.7', port: 5070 };

  it('finds the ACK for a retransmitted 2xx of the same Call-ID and CSeq, until it expires', () => {
    let now = 1_000;
    const acks = new SentAcks(32_000, () => now);
    const ack = createAckFor2xx(request(reinvite), response(ok()));
    acks.remember(ack, to);
    expect(acks.forRetransmission(response(ok()))?.ack).toBe(ack);
    expect(acks.forRetransmission(response(ok().replace(/3 INVITE/, '4 INVITE')))).toBeUndefined();
    expect(acks.forRetransmission(response(ok().replace(/call-1@/g, 'call-2@')))).toBeUndefined();
    expect(acks.forRetransmission(response(ok().replace('200 OK', '180 Ringing')))).toBeUndefined();
    now += 32_000;
    expect(acks.forRetransmission(response(ok()))).toBeUndefined();
    expect(acks.size).toBe(0);
  });
});
