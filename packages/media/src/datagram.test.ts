import { describe, expect, it } from 'vitest';
import { classifyDatagram } from './datagram.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('classifyDatagram (RFC 5761 §4, RFC 6263)', () => {
  it.each([
    ['zero-length UDP keep-alive', '', 'keepalive'],
    ['single byte', '80', 'keepalive'],
    ['RTCP sender report, PT 200', '80c8 0006 11223344 00000000 00000000 00000000 00000000 00000000', 'rtcp'],
    ['RTCP receiver report, PT 201', '81c9 0007 11223344', 'rtcp'],
    ['RTCP BYE, PT 203, header only', '80cb 0000', 'rtcp'],
    ['RTCP APP, PT 204 (marker bit position set)', '80cc 0002 11223344 6e616d65', 'rtcp'],
    ['RTP, T.140 PT 98', '80e2 0001 00000064 11223344 61', 'rtp'],
    ['RTP with PT 96 next to the RTCP range', '8060 0001 00000064 11223344', 'rtp'],
    ['RTP with PT 63 next to the RTCP range', '803f 0001 00000064 11223344', 'rtp'],
    ['version 0 (e.g. STUN)', '0001 0000 2112a442 000000000000000000000000', 'keepalive'],
    ['version 1', '4062 0001 00000064 11223344', 'keepalive'],
    ['RTP shorter than its header', '8062 0001 0000', 'keepalive'],
  ])('%s', (_what, bytes, kind) => {
    expect(classifyDatagram(hex(bytes))).toBe(kind);
  });

  it('treats RTP with a payload type that was not negotiated as a keep-alive', () => {
    const rtp99 = hex('8063 0001 00000064 11223344');
    expect(classifyDatagram(rtp99)).toBe('rtp');
    expect(classifyDatagram(rtp99, [98, 100])).toBe('keepalive');
    expect(classifyDatagram(rtp99, new Set([99]))).toBe('rtp');
    expect(classifyDatagram(hex('80c8 0006 11223344'), [98])).toBe('rtcp');
  });
});
