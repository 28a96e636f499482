import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dialogReferenceOf,
  matchDialogReference,
  namesDialog,
  type ReferencedDialog,
} from './dialog-reference-match.js';
import { SipParseError } from './errors.js';
import type { SipRequest } from './message.js';
import { parseMessage } from './parser.js';
import { formatDialogReference, parseDialogReference } from './replaces.js';

function invite(extra: string[], toTag = '', method = 'INVITE'): SipRequest {
  const text = [
    `${method} sip:conf-a@localhost SIP/2.0`,
    'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx1',
    'From: <sip:bob@localhost>;tag=bob1',
    `To: <sip:conf-a@localhost>${toTag ? `;tag=${toTag}` : ''}`,
    'Call-ID: new-call',
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const msg = parseMessage(Buffer.from(text));
  if (msg.kind !== 'request') throw new Error('not a request');
  return msg;
}

const dialog = (over: Partial<ReferencedDialog> = {}): ReferencedDialog => ({
  callId: 'old-call',
  localTag: 'focus1',
  remoteTag: 'alice1',
  state: 'confirmed',
  initiatedLocally: false,
  ...over,
});
const ref = (extra = '') => parseDialogReference(`old-call;to-tag=focus1;from-tag=alice1${extra}`);

describe('dialogReferenceOf', () => {
  it('finds no reference in a plain INVITE, a re-INVITE or another method', () => {
    expect(dialogReferenceOf(invite([]))).toEqual({ kind: 'none' });
    expect(dialogReferenceOf(invite(['Replaces: a;to-tag=b;from-tag=c'], 'ours'))).toEqual({ kind: 'none' });
    expect(dialogReferenceOf(invite(['Join: a;to-tag=b;from-tag=c'], '', 'OPTIONS'))).toEqual({
      kind: 'none',
    });
  });

  it('reads Replaces with early-only and Join', () => {
    const r = dialogReferenceOf(invite(['Replaces: a@h;to-tag=b;from-tag=c;early-only']));
    expect(r).toMatchObject({
      kind: 'reference',
      header: 'Replaces',
      ref: { callId: 'a@h', earlyOnly: true },
    });
    const j = dialogReferenceOf(invite(['Join: a@h;from-tag=c;to-tag=b']));
    expect(j).toMatchObject({ kind: 'reference', header: 'Join', ref: { toTag: 'b', fromTag: 'c' } });
  });

  it('refuses both headers, a repeated header and a malformed one with 400', () => {
    const both = dialogReferenceOf(
      invite(['Replaces: a;to-tag=b;from-tag=c', 'Join: a;to-tag=b;from-tag=c']),
    );
    expect(both).toEqual({ kind: 'refused', status: 400, reason: 'Replaces and Join Together' });
    const twice = dialogReferenceOf(invite(['Join: a;to-tag=b;from-tag=c', 'Join: d;to-tag=b;from-tag=c']));
    expect(twice).toEqual({ kind: 'refused', status: 400, reason: 'More Than One Join' });
    const bad = dialogReferenceOf(invite(['Replaces: a;to-tag=b']));
    expect(bad).toMatchObject({ kind: 'refused', status: 400 });
    expect((bad as { reason: string }).reason).toContain('from-tag');
  });
});

describe('matchDialogReference', () => {
  it('matches the dialog whose Call-ID, local tag (to-tag) and remote tag (from-tag) agree', () => {
    const d = dialog();
    expect(matchDialogReference('Replaces', ref(), [null, d])).toEqual({
      kind: 'matched',
      header: 'Replaces',
      dialog: d,
    });
    expect(matchDialogReference('Join', ref(), [d])).toMatchObject({ kind: 'matched', header: 'Join' });
  });

  it('answers 481 when no candidate has the three identifiers (tags are not swapped)', () => {
    for (const d of [
      dialog({ callId: 'other' }),
      dialog({ localTag: 'alice1', remoteTag: 'focus1' }),
      dialog({ remoteTag: 'x' }),
    ])
      expect(matchDialogReference('Replaces', ref(), [d])).toMatchObject({ kind: 'refused', status: 481 });
    expect(matchDialogReference('Join', ref(), [])).toMatchObject({ kind: 'refused', status: 481 });
  });

  it('declines a terminated dialog with 603', () => {
    expect(matchDialogReference('Join', ref(), [dialog({ state: 'terminated' })])).toMatchObject({
      status: 603,
    });
  });

  it('refuses early-only against a confirmed dialog with 486, and allows it against our early one', () => {
    expect(matchDialogReference('Replaces', ref(';early-only'), [dialog()])).toMatchObject({ status: 486 });
    const early = dialog({ state: 'early', initiatedLocally: true });
    expect(matchDialogReference('Replaces', ref(';early-only'), [early])).toMatchObject({ kind: 'matched' });
  });

  it('answers 481 for an early dialog the recipient did not initiate', () => {
    const early = dialog({ state: 'early', initiatedLocally: false });
    expect(matchDialogReference('Replaces', ref(), [early])).toMatchObject({ status: 481 });
    expect(matchDialogReference('Join', ref(), [early])).toMatchObject({ status: 481 });
  });
});

describe('dialog reference parser (property)', () => {
  const token = fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~-]{1,12}$/);
  it('round-trips every well-formed reference and names the dialog it was made from', () => {
    fc.assert(
      fc.property(token, token, token, fc.boolean(), (callId, toTag, fromTag, earlyOnly) => {
        const text = `${callId};to-tag=${toTag};from-tag=${fromTag}${earlyOnly ? ';early-only' : ''}`;
        const parsed = parseDialogReference(text);
        expect(parseDialogReference(formatDialogReference(parsed))).toEqual(parsed);
        expect(
          namesDialog(parsed, {
            callId,
            localTag: toTag,
            remoteTag: fromTag,
            state: 'confirmed',
            initiatedLocally: false,
          }),
        ).toBe(true);
      }),
    );
  });

  it('either parses or throws SipParseError (400) for any text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        try {
          parseDialogReference(text, 'Join');
        } catch (err) {
          expect(err).toBeInstanceOf(SipParseError);
          expect((err as SipParseError).status).toBe(400);
        }
      }),
    );
  });
});
