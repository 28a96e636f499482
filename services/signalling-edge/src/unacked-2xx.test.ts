import { createLogger } from '@sip-pubsub/platform';
import type { FocusControllerClient } from '@sip-pubsub/proto';
import { createRequest, createResponse, type SipRequest } from '@sip-pubsub/sip';
import { describe, expect, it } from 'vitest';
import { AcceptedInvites, abandonedInvite, dialogFailureReporter } from './unacked-2xx.js';

const invite = (callId: string, cseq = 1, method = 'INVITE'): SipRequest =>
  createRequest({
    method,
    uri: 'sip:conf-abc@example.net',
    from: { uri: 'sip:meter@example.org', params: { tag: 'caller-tag' } },
    to: { uri: 'sip:conf-abc@example.net', params: {} },
    callId,
    cseq,
    headers: [{ name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKu1' }],
  });

describe('AcceptedInvites', () => {
  it('gives back the dialog of a 2xx to an INVITE once, by Call-ID and CSeq', () => {
    const accepted = new AcceptedInvites(3_200);
    const req = invite('c1', 7);
    accepted.note(req, createResponse(req, 200, 'OK', { toTag: 'focus-tag' }), 'abc');
    expect(accepted.take('c1', 6)).toBeUndefined();
    expect(accepted.take('c1', 7)).toEqual({
      callId: 'c1',
      localTag: 'focus-tag',
      remoteTag: 'caller-tag',
      cseq: 7,
      routingKey: 'abc',
    });
    expect(accepted.take('c1', 7)).toBeUndefined();
  });

  it('ignores anything but a 2xx to an INVITE', () => {
    const accepted = new AcceptedInvites(3_200);
    const req = invite('c2');
    accepted.note(req, createResponse(req, 486, 'Busy Here', { toTag: 't' }), 'abc');
    accepted.note(req, createResponse(req, 180, 'Ringing', { toTag: 't' }), 'abc');
    const bye = invite('c3', 2, 'BYE');
    accepted.note(bye, createResponse(bye, 200, 'OK', { toTag: 't' }), 'abc');
    // A 2xx without a To tag (from a peer that broke §8.2.6.2) has no dialog to end.
    const untagged = createResponse(req, 200, 'OK');
    untagged.headers = untagged.headers.map((h) =>
      h.name === 'To' ? { name: 'To', value: '<sip:conf-abc@example.net>' } : h,
    );
    accepted.note(req, untagged, 'abc');
    expect(accepted.size).toBe(0);
  });

  it('forgets entries older than twice the ACK window, and never holds more than its cap', () => {
    let now = 0;
    const accepted = new AcceptedInvites(1_000, 3, () => now);
    const note = (callId: string) => {
      const req = invite(callId);
      accepted.note(req, createResponse(req, 200, 'OK', { toTag: 't' }), 'k');
    };
    note('old');
    now = 2_001;
    note('new');
    expect(accepted.take('old', 1)).toBeUndefined();
    for (const id of ['a', 'b', 'c', 'd']) note(id);
    expect(accepted.size).toBeLessThanOrEqual(3);
    expect(accepted.take('d', 1)).toBeDefined();
    expect(accepted.take('new', 1)).toBeUndefined();
  });
});

describe('dialogFailureReporter', () => {
  const logger = createLogger('test', { level: 'silent' });
  const dialog = { callId: 'c1', localTag: 'l', remoteTag: 'r', cseq: 1, routingKey: 'abc' };

  /** A client whose DialogFailed answers from `replies` in turn (an Error fails the call). */
  const fakeClient = (replies: (boolean | Error)[], calls: unknown[]) =>
    ({
      DialogFailed(req: unknown, _opts: unknown, cb: (err: Error | null, res?: unknown) => void) {
        calls.push(req);
        const reply = replies.shift() ?? new Error('no reply left');
        setImmediate(() => (reply instanceof Error ? cb(reply) : cb(null, { ended: reply })));
      },
    }) as unknown as FocusControllerClient;

  it('sends the dialog and reason to the owner, and tries once more when the call fails', async () => {
    const calls: unknown[] = [];
    const client = fakeClient([new Error('UNAVAILABLE'), true], calls);
    const report = dialogFailureReporter({
      ownerOf: () => client,
      timeoutMs: 1_000,
      logger,
      retryDelayMs: 0,
    });
    expect(await report(dialog, 'no ACK')).toBe(true);
    expect(calls).toEqual([
      { ...dialog, reason: 'no ACK' },
      { ...dialog, reason: 'no ACK' },
    ]);
  });

  it('gives up after the retry, and when no owner is ready', async () => {
    const calls: unknown[] = [];
    const client = fakeClient([new Error('a'), new Error('b'), true], calls);
    const report = dialogFailureReporter({
      ownerOf: () => client,
      timeoutMs: 1_000,
      logger,
      retryDelayMs: 0,
    });
    expect(await report(dialog, 'no ACK')).toBe(false);
    expect(calls).toHaveLength(2);
    const none = dialogFailureReporter({
      ownerOf: () => undefined,
      timeoutMs: 1_000,
      logger,
      retryDelayMs: 0,
    });
    expect(await none(dialog, 'no ACK')).toBe(false);
  });
});

describe('abandonedInvite', () => {
  it('names the dialog a new INVITE may have made (no owner tag yet), and nothing for a re-INVITE', () => {
    expect(abandonedInvite(invite('c9', 4), 'abc')).toEqual({
      callId: 'c9',
      localTag: '',
      remoteTag: 'caller-tag',
      cseq: 4,
      routingKey: 'abc',
    });
    const reinvite = invite('c9', 5);
    reinvite.headers = reinvite.headers.map((h) =>
      h.name === 'To' ? { ...h, value: `${h.value};tag=focus-tag` } : h,
    );
    expect(abandonedInvite(reinvite, 'abc')).toBeUndefined();
    expect(abandonedInvite(invite('c9', 6, 'BYE'), 'abc')).toBeUndefined();
  });
});
