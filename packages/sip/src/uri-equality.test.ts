import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SipParseError } from './errors.js';
import { formatUri, parseUri, type SipUri } from './uri.js';
import { unescapeUnreserved, uriEquals } from './uri-equality.js';

describe('uriEquals: the example pairs of RFC 3261 §19.1.4', () => {
  const equal: Array<[string, string]> = [
    ['sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;security=on'],
    ['sip:carol@chicago.com;newparam=5', 'sip:carol@chicago.com;security=on'],
    [
      'sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com',
      'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com',
    ],
    [
      'sip:alice@atlanta.com?subject=project%20x&priority=urgent',
      'sip:alice@atlanta.com?priority=urgent&subject=project%20x',
    ],
  ];
  const unequal: Array<[string, string, string]> = [
    ['SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP', 'user differs in case'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060', 'an explicit default port'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp', 'an explicit default transport'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp', 'port and transport'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting', 'a header in one only'],
    ['sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4', 'a name and the address it resolves to'],
    [
      'sip:carol@chicago.com;security=on',
      'sip:carol@chicago.com;security=off',
      'a parameter in both differs',
    ],
  ];

  it.each(equal)('%s equals %s', (a, b) => {
    expect(uriEquals(a, b)).toBe(true);
    expect(uriEquals(b, a)).toBe(true);
  });

  it.each(unequal)('%s differs from %s (%s)', (a, b) => {
    expect(uriEquals(a, b)).toBe(false);
    expect(uriEquals(b, a)).toBe(false);
  });

  it('equality is not transitive: both equal the bare URI, not each other', () => {
    const on = 'sip:carol@chicago.com;security=on';
    const off = 'sip:carol@chicago.com;security=off';
    expect(uriEquals(on, 'sip:carol@chicago.com')).toBe(true);
    expect(uriEquals('sip:carol@chicago.com', off)).toBe(true);
    expect(uriEquals(on, off)).toBe(false);
  });
});

describe('uriEquals: each rule', () => {
  it('never equates sip and sips', () => {
    expect(uriEquals('sip:alice@atlanta.com', 'sips:alice@atlanta.com')).toBe(false);
    expect(uriEquals('SIPS:alice@atlanta.com', 'sips:alice@atlanta.com')).toBe(true);
  });

  it('needs user and password present in both or neither, compared case-sensitively after unescaping', () => {
    expect(uriEquals('sip:atlanta.com', 'sip:alice@atlanta.com')).toBe(false);
    expect(uriEquals('sip:alice@atlanta.com', 'sip:alice:pw@atlanta.com')).toBe(false);
    expect(uriEquals('sip:alice:pw@atlanta.com', 'sip:alice:PW@atlanta.com')).toBe(false);
    expect(uriEquals('sip:alice:p%77@atlanta.com', 'sip:alice:pw@atlanta.com')).toBe(true);
    expect(uriEquals('sip:%41lice@atlanta.com', 'sip:alice@atlanta.com')).toBe(false);
  });

  it('keeps an escaped reserved character distinct from the character, but ignores the case of hex digits', () => {
    expect(uriEquals('sip:a%3Bb@atlanta.com', 'sip:a;b@atlanta.com')).toBe(false);
    expect(uriEquals('sip:a%3bb@atlanta.com', 'sip:a%3Bb@atlanta.com')).toBe(true);
    expect(uriEquals('sip:a%20b@atlanta.com', 'sip:a%20B@atlanta.com')).toBe(false);
    expect(unescapeUnreserved('%61%3b%7E%2f')).toBe('a%3B~%2F');
  });

  it('compares ports as numbers and hosts case-insensitively, IPv6 included', () => {
    expect(uriEquals('sip:bob@biloxi.com:5060', 'sip:bob@BILOXI.com:05060')).toBe(true);
    expect(uriEquals('sip:bob@biloxi.com:5060', 'sip:bob@biloxi.com:5061')).toBe(false);
    expect(uriEquals('sip:bob@[2001:DB8::1]', 'sip:bob@[2001:db8::1]')).toBe(true);
  });

  it.each(['transport=udp', 'user=phone', 'ttl=1', 'method=INVITE', 'maddr=239.255.255.1'])(
    'requires %s in both once it is in either',
    (param) => {
      expect(uriEquals(`sip:bob@biloxi.com;${param}`, 'sip:bob@biloxi.com')).toBe(false);
      expect(uriEquals(`sip:bob@biloxi.com;${param}`, `sip:bob@biloxi.com;${param.toUpperCase()}`)).toBe(
        true,
      );
    },
  );

  it('compares other parameters only when both carry them; a flag matches only a flag', () => {
    expect(uriEquals('sip:bob@biloxi.com;lr', 'sip:bob@biloxi.com')).toBe(true);
    expect(uriEquals('sip:bob@biloxi.com;lr', 'sip:bob@biloxi.com;LR')).toBe(true);
    expect(uriEquals('sip:bob@biloxi.com;lr', 'sip:bob@biloxi.com;lr=on')).toBe(false);
    expect(uriEquals('sip:bob@biloxi.com;foo=%62ar', 'sip:bob@biloxi.com;FOO=BAR')).toBe(true);
  });

  it('matches headers by name (compact forms too) with values compared exactly', () => {
    expect(uriEquals('sip:bob@biloxi.com?Subject=hi', 'sip:bob@biloxi.com?s=hi')).toBe(true);
    expect(uriEquals('sip:bob@biloxi.com?subject=hi', 'sip:bob@biloxi.com?Subject=Hi')).toBe(false);
    expect(uriEquals('sip:bob@biloxi.com?a=1&b=2', 'sip:bob@biloxi.com?a=1&c=2')).toBe(false);
    expect(uriEquals('sip:bob@biloxi.com?a=1&b=2', 'sip:bob@biloxi.com?a=1')).toBe(false);
  });

  it('accepts parsed URIs as well as strings', () => {
    expect(uriEquals(parseUri('sip:alice@atlanta.com'), 'sip:alice@ATLANTA.COM')).toBe(true);
  });

  it('throws the parser error for a URI that is not sip or sips', () => {
    expect(() => uriEquals('tel:+15551234', 'sip:alice@atlanta.com')).toThrow(SipParseError);
  });
});

describe('uriEquals: properties', () => {
  // Small pools so that generated pairs are often equal, often not.
  const user = fc.option(fc.constantFrom('alice', '%61lice', 'Alice', 'bob', 'a%3Bb', 'a;b'), {
    nil: undefined,
  });
  const host = fc.constantFrom('atlanta.com', 'biloxi.com', '192.0.2.4', '2001:db8::1');
  const port = fc.option(fc.constantFrom(5060, 5061), { nil: undefined });
  const params = fc.dictionary(
    fc.constantFrom('transport', 'user', 'ttl', 'method', 'maddr', 'lr', 'security', 'newparam'),
    fc.option(fc.constantFrom('tcp', 'TCP', 'udp', 'on', '%6Fn', '5'), { nil: null }),
    { maxKeys: 3 },
  );
  const headers = fc.dictionary(
    fc.constantFrom('subject', 'Subject', 'priority', 'to'),
    fc.constantFrom('x', 'X'),
    {
      maxKeys: 2,
    },
  );
  const uri: fc.Arbitrary<SipUri> = fc.record({
    scheme: fc.constantFrom('sip' as const, 'sips' as const),
    user,
    host,
    port,
    params,
    headers,
  });
  const text = uri.map(formatUri);

  it('is reflexive', () => {
    fc.assert(fc.property(text, (a) => uriEquals(a, a)));
  });

  it('is symmetric', () => {
    fc.assert(fc.property(text, text, (a, b) => uriEquals(a, b) === uriEquals(b, a)));
  });

  it('ignores the case of the scheme and of the host', () => {
    fc.assert(
      fc.property(uri, (u) => {
        const a = formatUri(u);
        const b = formatUri({ ...u, host: u.host.toUpperCase() }).replace(/^sips?:/, (s) => s.toUpperCase());
        return uriEquals(a, b);
      }),
    );
  });

  it('tells apart URIs whose user parts differ', () => {
    const name = fc.stringMatching(/^[a-zA-Z0-9]{1,8}$/);
    fc.assert(
      fc.property(uri, name, name, (u, x, y) => {
        fc.pre(x !== y);
        return !uriEquals(formatUri({ ...u, user: x }), formatUri({ ...u, user: y }));
      }),
    );
  });
});
