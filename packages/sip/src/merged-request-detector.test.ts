import { describe, expect, it } from 'vitest';
import { MergedRequestDetector } from './merged-request-detector.js';
import type { SipRequest } from './message.js';
import { parseMessage } from './parser.js';

function request(
  method: string,
  branch: string,
  opts: { toTag?: string; fromTag?: string; cseq?: number } = {},
): SipRequest {
  const text = [
    `${method} sip:factory@example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.1;branch=${branch}`,
    `From: <sip:a@example.com>${opts.fromTag === '' ? '' : `;tag=${opts.fromTag ?? 'f1'}`}`,
    `To: <sip:factory@example.com>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
    'Call-ID: merge-1',
    `CSeq: ${opts.cseq ?? 1} ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

describe('MergedRequestDetector (§8.2.2.2)', () => {
  it('the same request arriving under a second transaction is merged; the first is not', () => {
    let t = 0;
    const detector = new MergedRequestDetector(() => t, 32_000);
    expect(detector.isMerged(request('INVITE', 'z9hG4bKa'), 'tx-a')).toBe(false);
    expect(detector.isMerged(request('INVITE', 'z9hG4bKa'), 'tx-a')).toBe(false); // same transaction
    expect(detector.isMerged(request('INVITE', 'z9hG4bKb'), 'tx-b')).toBe(true);
    t = 31_999;
    expect(detector.isMerged(request('INVITE', 'z9hG4bKc'), 'tx-c')).toBe(true);
    t = 32_000;
    expect(detector.isMerged(request('INVITE', 'z9hG4bKd'), 'tx-d')).toBe(false); // window over: a new request
  });

  it('a different CSeq, method or From tag is a different request', () => {
    const detector = new MergedRequestDetector(() => 0);
    expect(detector.isMerged(request('INVITE', 'z9hG4bKa'), 'a')).toBe(false);
    expect(detector.isMerged(request('INVITE', 'z9hG4bKb', { cseq: 2 }), 'b')).toBe(false);
    expect(detector.isMerged(request('OPTIONS', 'z9hG4bKc'), 'c')).toBe(false);
    expect(detector.isMerged(request('INVITE', 'z9hG4bKd', { fromTag: 'f2' }), 'd')).toBe(false);
  });

  it('ignores in-dialog requests, CANCEL, ACK and requests without From tag', () => {
    const detector = new MergedRequestDetector(() => 0);
    for (const make of [
      (b: string) => request('BYE', b, { toTag: 't' }),
      (b: string) => request('CANCEL', b),
      (b: string) => request('ACK', b),
      (b: string) => request('INVITE', b, { fromTag: '' }),
    ]) {
      expect(detector.isMerged(make('z9hG4bK1'), '1')).toBe(false);
      expect(detector.isMerged(make('z9hG4bK2'), '2')).toBe(false);
    }
    expect(detector.size).toBe(0);
  });

  it('remembers at most maxEntries requests', () => {
    const detector = new MergedRequestDetector(() => 0, 32_000, 3);
    for (let i = 1; i <= 5; i++) detector.isMerged(request('INVITE', `z9hG4bK${i}`, { cseq: i }), `${i}`);
    expect(detector.size).toBe(3);
    expect(detector.isMerged(request('INVITE', 'z9hG4bKx', { cseq: 1 }), 'x')).toBe(false); // forgotten
    expect(detector.isMerged(request('INVITE', 'z9hG4bKy', { cseq: 5 }), 'y')).toBe(true);
  });
});
