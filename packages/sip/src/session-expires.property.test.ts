import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SipParseError } from './errors.js';
import { formatSessionExpires, parseMinSE, parseSessionExpires } from './session-expires.js';

const seconds = fc.integer({ min: 0, max: 0xffffffff });
const refresher = fc.option(fc.constantFrom('uac', 'uas') as fc.Arbitrary<'uac' | 'uas'>, { nil: undefined });
const noise = fc.string({
  unit: fc.constantFrom('1', '9', ';', '=', ' ', 'r', 'refresher', 'uac', 'uas', '"', 'x', '-', '\t', ','),
  maxLength: 30,
});

describe('Session-Expires and Min-SE (RFC 4028 §4, §5)', () => {
  it('round-trips what it formats', () => {
    fc.assert(
      fc.property(seconds, refresher, (s, r) => {
        const parsed = parseSessionExpires(formatSessionExpires({ seconds: s, refresher: r }));
        expect(parsed.seconds).toBe(s);
        expect(parsed.refresher).toBe(r);
      }),
    );
  });

  it('keeps unknown parameters and reads the refresher case-insensitively', () => {
    fc.assert(
      fc.property(seconds, fc.constantFrom('UAC', 'uAs', 'uac'), (s, r) => {
        const parsed = parseSessionExpires(` ${s} ; foo=bar ; REFRESHER=${r};flag`);
        expect(parsed).toMatchObject({ seconds: s, refresher: r.toLowerCase() });
        expect(parsed.params).toMatchObject({ foo: 'bar', flag: null });
      }),
    );
  });

  it('throws only SipParseError 400 on any input, and a result always has a delta-seconds', () => {
    fc.assert(
      fc.property(fc.oneof(noise, fc.string()), (text) => {
        for (const parse of [parseSessionExpires, parseMinSE]) {
          try {
            const result = parse(text);
            const s = typeof result === 'number' ? result : result.seconds;
            expect(Number.isInteger(s) && s >= 0 && s <= 0xffffffff).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(SipParseError);
            expect((err as SipParseError).status).toBe(400);
          }
        }
      }),
    );
  });

  it('refuses a refresher other than uac or uas, and a missing or signed interval', () => {
    for (const bad of [
      '90;refresher=proxy',
      '90;refresher',
      '',
      ';refresher=uac',
      '-5',
      '1e3',
      '99999999999',
    ])
      expect(() => parseSessionExpires(bad), bad).toThrow(SipParseError);
    expect(parseMinSE('90;x=y')).toBe(90);
    expect(() => parseMinSE('90;;')).toThrow(SipParseError);
  });
});
