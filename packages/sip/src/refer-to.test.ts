import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SipParseError } from './errors.js';
import { parseReferTo } from './refer-to.js';
import { parseUri } from './uri.js';

describe('parseReferTo', () => {
  it('reads a plain target as an INVITE to it', () => {
    expect(parseReferTo('<sip:alice@example.com>')).toEqual({
      uri: 'sip:alice@example.com',
      method: 'INVITE',
      target: 'sip:alice@example.com',
      uriHeaders: {},
      params: {},
    });
  });

  it('reads method=BYE (RFC 4579 §5.11) and strips it from the target', () => {
    const r = parseReferTo('"Bob" <sip:bob@example.com;transport=udp;method=bye>');
    expect(r.method).toBe('BYE');
    expect(r.target).toBe('sip:bob@example.com;transport=udp');
  });

  it('reads method=BYE written after an addr-spec', () => {
    const r = parseReferTo('sip:bob@example.com;method=BYE');
    expect(r).toMatchObject({ method: 'BYE', target: 'sip:bob@example.com', params: {} });
  });

  it('keeps URI headers apart from the target', () => {
    const r = parseReferTo('<sip:carol@example.com?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>');
    expect(r.target).toBe('sip:carol@example.com');
    expect(r.uriHeaders).toEqual({ Replaces: 'abc%3Bto-tag%3D1%3Bfrom-tag%3D2' });
  });

  it('refuses another scheme with 416 and bad syntax with 400', () => {
    expect(() => parseReferTo('<tel:+15551234>')).toThrow(expect.objectContaining({ status: 416 }));
    expect(() => parseReferTo('<sip:a@b;method>')).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => parseReferTo('<sip:a@b;method=B"YE>')).toThrow(SipParseError);
    expect(() => parseReferTo('')).toThrow(SipParseError);
  });

  const user = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,10}$/);
  const host = fc.stringMatching(/^[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z]{2,4})?$/);
  const method = fc.option(fc.constantFrom('BYE', 'bye', 'INVITE', 'Invite'), { nil: undefined });
  const extra = fc.option(fc.constantFrom(';transport=tcp', ';user=phone', ';lr'), { nil: undefined });

  it('round-trips: the target is the URI less its method, and parses again to itself', () => {
    fc.assert(
      fc.property(user, host, method, extra, fc.boolean(), (u, h, m, x0, angle) => {
        // Without <>, parameters after the host are header parameters (RFC 3261 §20.10), except method.
        const x = angle ? x0 : undefined;
        const uri = `sip:${u}@${h}${x ?? ''}${m ? `;method=${m}` : ''}`;
        const r = parseReferTo(angle ? `<${uri}>` : uri);
        expect(r.method).toBe((m ?? 'INVITE').toUpperCase());
        expect(r.target).toBe(`sip:${u}@${h}${x ?? ''}`);
        expect(parseUri(r.target).params.method).toBeUndefined();
        expect(parseReferTo(`<${r.target}>`).target).toBe(r.target);
      }),
    );
  });

  it('either parses or throws SipParseError for arbitrary text, never anything else', () => {
    const text = fc.string({
      unit: fc.oneof(
        fc.constantFrom('sip:', '<', '>', ';', 'method=', '?', '=', '@', '"', ' '),
        fc.string({ minLength: 1, maxLength: 1 }),
      ),
      maxLength: 40,
    });
    fc.assert(
      fc.property(text, (t) => {
        try {
          const r = parseReferTo(t);
          expect(typeof r.method).toBe('string');
        } catch (err) {
          expect(err).toBeInstanceOf(SipParseError);
        }
      }),
    );
  });
});
