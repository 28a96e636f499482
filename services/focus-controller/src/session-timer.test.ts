import { createRequest, type HeaderField, SipParseError } from '@sip-pubsub/sip';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideSessionTimer, sessionDeadlineMs, sessionTimerHeaders } from './session-timer.js';

const request = (headers: HeaderField[]) =>
  createRequest({
    method: 'INVITE',
    uri: 'sip:conf-x@example.net',
    from: { uri: 'sip:a@example.org', params: {} },
    to: { uri: 'sip:conf-x@example.net', params: {} },
    headers,
  });

describe('decideSessionTimer (RFC 4028 §9, the focus as UAS)', () => {
  const policy = { minSeconds: 90, preferredSeconds: 1_800 };

  it('never raises a requested interval, never goes below its Min-SE or ours, and always leaves refreshing to the caller', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.constantFrom('', ';refresher=uac'),
        fc.constantFrom('Supported', 'Require'),
        (se, minSe, ourMin, preferred, refresher, tagHeader) => {
          const headers: HeaderField[] = [
            { name: tagHeader, value: 'timer' },
            { name: 'Session-Expires', value: `${se}${refresher}` },
          ];
          if (minSe !== undefined) headers.push({ name: 'Min-SE', value: String(minSe) });
          const d = decideSessionTimer(request(headers), { minSeconds: ourMin, preferredSeconds: preferred });
          if (se < ourMin) {
            expect(d).toEqual({ kind: 'too-small', minSeconds: ourMin });
            return;
          }
          expect(d.kind).toBe('use');
          if (d.kind !== 'use') return;
          expect(d.seconds).toBeLessThanOrEqual(se);
          expect(d.seconds).toBeGreaterThanOrEqual(Math.min(se, Math.max(minSe ?? 0, ourMin)));
          if (preferred > 0) expect(d.seconds).toBeLessThanOrEqual(Math.max(preferred, minSe ?? 0, ourMin));
          expect(d.refresher).toBe('uac');
        },
      ),
    );
  });

  it('runs no timer it would refresh for a peer that does not allow UPDATE', () => {
    expect(decideSessionTimer(request([{ name: 'Session-Expires', value: '600' }]), policy)).toEqual({
      kind: 'none',
    });
    expect(
      decideSessionTimer(
        request([
          { name: 'Supported', value: 'timer' },
          { name: 'Session-Expires', value: '600;refresher=uas' },
        ]),
        policy,
      ),
    ).toEqual({ kind: 'none' });
    expect(
      decideSessionTimer(request([{ name: 'Supported', value: 'timer' }]), {
        ...policy,
        preferredSeconds: 0,
      }),
    ).toEqual({
      kind: 'none',
    });
  });

  it('follows the §9 refresher table, taking refresher=uas only from a peer that allows UPDATE', () => {
    const allow = { name: 'Allow', value: 'INVITE, ACK, BYE, update' };
    const se = (value: string) => ({ name: 'Session-Expires', value });
    const timer = { name: 'Supported', value: 'timer' };
    expect(decideSessionTimer(request([allow, se('600')]), policy)).toEqual({
      kind: 'use',
      seconds: 600,
      refresher: 'uas',
    });
    expect(decideSessionTimer(request([allow, timer, se('600;refresher=uas')]), policy)).toMatchObject({
      refresher: 'uas',
    });
    expect(decideSessionTimer(request([allow, timer, se('600')]), policy)).toMatchObject({
      refresher: 'uac',
    });
    // Too small without `timer` support: no 422 (it could not retry), and no UPDATEs at that rate either.
    expect(decideSessionTimer(request([allow, se('10')]), policy)).toEqual({ kind: 'none' });
    expect(sessionTimerHeaders({ kind: 'use', seconds: 600, refresher: 'uas' })).toEqual([
      { name: 'Session-Expires', value: '600;refresher=uas' },
    ]);
  });

  it('asks for its preferred interval (or the caller Min-SE) when the caller supports timers without asking', () => {
    expect(decideSessionTimer(request([{ name: 'Supported', value: 'replaces, timer' }]), policy)).toEqual({
      kind: 'use',
      seconds: 1_800,
      refresher: 'uac',
    });
    expect(
      decideSessionTimer(
        request([
          { name: 'Supported', value: 'timer' },
          { name: 'Min-SE', value: '3600' },
        ]),
        policy,
      ),
    ).toMatchObject({ seconds: 3_600 });
  });

  it('throws SipParseError on a malformed Session-Expires', () => {
    expect(() =>
      decideSessionTimer(
        request([
          { name: 'Supported', value: 'timer' },
          { name: 'Session-Expires', value: '600;refresher=proxy' },
        ]),
        policy,
      ),
    ).toThrow(SipParseError);
  });

  it('puts Session-Expires and Require: timer in the 2xx, and BYEs min(32 s, SE/3) before expiry', () => {
    expect(sessionTimerHeaders({ kind: 'use', seconds: 600, refresher: 'uac' })).toEqual([
      { name: 'Session-Expires', value: '600;refresher=uac' },
      { name: 'Require', value: 'timer' },
    ]);
    expect(sessionTimerHeaders({ kind: 'none' })).toEqual([]);
    expect(sessionDeadlineMs(1_800)).toBe(1_768_000);
    expect(sessionDeadlineMs(6)).toBe(4_000);
  });
});
