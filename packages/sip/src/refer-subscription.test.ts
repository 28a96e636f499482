import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import {
  acceptRefer,
  expireRefer,
  ReferStateError,
  referNotifyFailed,
  referralOf,
  reportReferProgress,
  SIPFRAG_CONTENT_TYPE,
} from './refer-subscription.js';
import { parseReferTo } from './refer-to.js';

const CONF = 'sip:conf-abc@example.com';
const referral = (text: string) => referralOf(parseReferTo(text), CONF);

describe('referralOf (RFC 4579 §5.6, §5.11)', () => {
  it('dials out to a plain target', () => {
    expect(referral('<sip:alice@example.com>')).toEqual({
      kind: 'dial-out',
      target: 'sip:alice@example.com',
    });
  });
  it('removes a participant with method=BYE', () => {
    expect(referral('<sip:alice@example.com;method=BYE>')).toEqual({
      kind: 'remove',
      target: 'sip:alice@example.com',
    });
  });
  it('ends the conference when the BYE names the conference URI (compared as URIs, host case-blind)', () => {
    expect(referral('<sip:conf-abc@EXAMPLE.com;method=BYE>')).toEqual({ kind: 'terminate' });
  });
  it('refuses an INVITE to the conference itself, other methods, and URI headers', () => {
    expect(referral(`<${CONF}>`)).toMatchObject({ kind: 'refused', status: 400 });
    expect(referral('<sip:a@b;method=OPTIONS>')).toEqual({
      kind: 'refused',
      status: 400,
      reason: 'Refer-To method OPTIONS is not supported',
    });
    expect(referral('<sip:a@b?Replaces=x%3Bto-tag%3D1%3Bfrom-tag%3D2>')).toMatchObject({
      kind: 'refused',
      reason: 'Refer-To URI headers are not supported',
    });
  });
});

describe('the implicit refer subscription (RFC 3515, RFC 4488)', () => {
  it('sends 100 Trying at once, then the final status with terminated;reason=noresource', () => {
    const clock = new FakeClock(1_000);
    const accepted = acceptRefer({ cseq: 7, referSub: undefined, now: clock.now() });
    expect(accepted.headers).toEqual([]);
    expect(accepted.notify).toEqual({
      event: 'refer;id=7',
      subscriptionState: 'active;expires=60',
      contentType: SIPFRAG_CONTENT_TYPE,
      body: 'SIP/2.0 100 Trying\r\n',
    });
    clock.advance(10_500);
    const done = reportReferProgress(accepted.snapshot, 200, 'OK', clock.now());
    expect(done.notify).toEqual({
      event: 'refer;id=7',
      subscriptionState: 'terminated;reason=noresource',
      contentType: SIPFRAG_CONTENT_TYPE,
      body: 'SIP/2.0 200 OK\r\n',
    });
    expect(done.snapshot).toMatchObject({ status: 'terminated', reason: 'noresource', notifies: 2 });
  });

  it('reports a failure with its status line and the standard phrase when none is given', () => {
    const accepted = acceptRefer({ cseq: 1, referSub: true, now: 0 });
    const busy = reportReferProgress(accepted.snapshot, 486, '', 5);
    expect(busy.notify?.body).toBe('SIP/2.0 486 Busy Here\r\n');
    expect(busy.notify?.subscriptionState).toBe('terminated;reason=noresource');
  });

  it('a new provisional status is reported with the time left; a repeat is not', () => {
    const clock = new FakeClock(0);
    const accepted = acceptRefer({ cseq: 2, referSub: undefined, now: 0, expiresSeconds: 30 });
    clock.advance(9_200);
    const again = reportReferProgress(accepted.snapshot, 100, 'Trying', clock.now());
    expect(again.notify).toBeUndefined();
    const ringing = reportReferProgress(again.snapshot, 180, 'Ringing', clock.now());
    expect(ringing.notify).toMatchObject({
      subscriptionState: 'active;expires=21',
      body: 'SIP/2.0 180 Ringing\r\n',
    });
    expect(ringing.snapshot.notifies).toBe(2);
  });

  it('Refer-Sub: false: the 202 says so and no NOTIFY is ever called for', () => {
    const accepted = acceptRefer({ cseq: 3, referSub: false, now: 0 });
    expect(accepted.headers).toEqual([{ name: 'Refer-Sub', value: 'false' }]);
    expect(accepted.notify).toBeUndefined();
    expect(accepted.snapshot).toMatchObject({ subscribed: false, status: 'terminated' });
    const done = reportReferProgress(accepted.snapshot, 200, 'OK', 1);
    expect(done.notify).toBeUndefined();
    expect(done.snapshot).toMatchObject({ lastStatus: 200, notifies: 0 });
    expect(expireRefer(done.snapshot, 10 ** 9).notify).toBeUndefined();
  });

  it('expiry before a final status ends the subscription with reason=timeout and the last status', () => {
    const clock = new FakeClock(0);
    const accepted = acceptRefer({ cseq: 4, referSub: undefined, now: 0, expiresSeconds: 5 });
    clock.advance(4_999);
    expect(expireRefer(accepted.snapshot, clock.now()).notify).toBeUndefined();
    clock.advance(1);
    const expired = expireRefer(accepted.snapshot, clock.now());
    expect(expired.notify).toMatchObject({
      subscriptionState: 'terminated;reason=timeout',
      body: 'SIP/2.0 100 Trying\r\n',
    });
    expect(expired.snapshot.reason).toBe('timeout');
    // The dial-out may still finish: its outcome is recorded, with nothing more to send.
    const late = reportReferProgress(expired.snapshot, 200, 'OK', clock.now());
    expect(late.notify).toBeUndefined();
    expect(late.snapshot.lastStatus).toBe(200);
    expect(expireRefer(late.snapshot, clock.now() + 1).notify).toBeUndefined();
  });

  it('a NOTIFY that failed ends the subscription (giveup) but not the record of the outcome', () => {
    const accepted = acceptRefer({ cseq: 5, referSub: undefined, now: 0 });
    const gone = referNotifyFailed(accepted.snapshot);
    expect(gone).toMatchObject({ status: 'terminated', reason: 'giveup' });
    expect(referNotifyFailed(gone)).toBe(gone);
    const declined = reportReferProgress(gone, 603, 'Decline', 1);
    expect(declined.snapshot.lastStatus).toBe(603);
    expect(declined.notify).toBeUndefined();
  });

  it('throws for a second final status and for something that is not a status code', () => {
    const accepted = acceptRefer({ cseq: 6, referSub: undefined, now: 0 });
    const done = reportReferProgress(accepted.snapshot, 404, 'Not Found', 0);
    expect(() => reportReferProgress(done.snapshot, 200, 'OK', 0)).toThrow(ReferStateError);
    expect(() => reportReferProgress(accepted.snapshot, 99, 'x', 0)).toThrow(ReferStateError);
    expect(() => reportReferProgress(accepted.snapshot, 700, 'x', 0)).toThrow(ReferStateError);
  });

  it('keeps CR and LF of a reason phrase out of the sipfrag status line', () => {
    const accepted = acceptRefer({ cseq: 8, referSub: undefined, now: 0 });
    expect(reportReferProgress(accepted.snapshot, 500, 'Bad\r\nX: y', 0).notify?.body).toBe(
      'SIP/2.0 500 Bad  X: y\r\n',
    );
  });
});
