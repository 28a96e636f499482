import { describe, expect, it } from 'vitest';
import {
  computeDigestResponse,
  createDigestAuthorization,
  DigestNonceIssuer,
  digestHa1,
  formatDigestChallenge,
  parseDigestChallenge,
  parseDigestCredentials,
  verifyDigestCredentials,
} from './digest.js';
import { SipParseError } from './errors.js';
import type { SipRequest } from './message.js';

describe('digest computations', () => {
  it('matches the RFC 2617 §3.5 MD5 qop=auth example', () => {
    expect(
      computeDigestResponse({
        ha1: digestHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life'),
        method: 'GET',
        uri: '/dir/index.html',
        nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        cnonce: '0a4f113b',
        nc: '00000001',
        qop: 'auth',
      }),
    ).toBe('6629fae49393a05397450978507c4ef1');
  });

  it('matches the RFC 7616 §3.9.1 SHA-256 example', () => {
    expect(
      computeDigestResponse({
        algorithm: 'SHA-256',
        ha1: digestHa1('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life'),
        method: 'GET',
        uri: '/dir/index.html',
        nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
        cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
        nc: '00000001',
        qop: 'auth',
      }),
    ).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  });
});

describe('digest headers and round trip', () => {
  const req: SipRequest = {
    kind: 'request',
    method: 'PUBLISH',
    uri: 'sip:conf-abc@example.com',
    version: 'SIP/2.0',
    headers: [],
    body: Buffer.from('[{"n":"t","v":21.5}]'),
  };

  it('challenge format/parse, client answer, server verification', () => {
    const text = formatDigestChallenge({
      realm: 'example.com',
      nonce: 'n1',
      algorithm: 'SHA-256',
      qop: ['auth'],
      opaque: 'o',
    });
    expect(text).toBe('Digest realm="example.com", nonce="n1", opaque="o", algorithm=SHA-256, qop="auth"');
    const challenge = parseDigestChallenge(text);
    const authorization = createDigestAuthorization(req, challenge, {
      username: 'sensor7',
      password: 's3cret',
      cnonce: 'c1',
    });
    expect(authorization).toMatch(
      /^Digest username="sensor7", realm="example.com", nonce="n1", uri="sip:conf-abc@example.com", response="[0-9a-f]{64}", algorithm=SHA-256, cnonce="c1", opaque="o", qop=auth, nc=00000001$/,
    );
    const creds = parseDigestCredentials(authorization);
    expect(
      verifyDigestCredentials(req, creds, digestHa1('SHA-256', 'sensor7', 'example.com', 's3cret')),
    ).toBe(true);
    expect(verifyDigestCredentials(req, creds, digestHa1('SHA-256', 'sensor7', 'example.com', 'wrong'))).toBe(
      false,
    );
    expect(
      verifyDigestCredentials(
        { ...req, method: 'INVITE' },
        creds,
        digestHa1('SHA-256', 'sensor7', 'example.com', 's3cret'),
      ),
    ).toBe(false);
  });

  it('rejects other schemes and incomplete headers', () => {
    expect(() => parseDigestChallenge('Basic realm="x"')).toThrow(SipParseError);
    expect(() => parseDigestCredentials('Digest username="a", realm="r"')).toThrow(/nonce/);
    expect(() => parseDigestChallenge('Digest realm="r", nonce="n", algorithm=SHA-1')).toThrow(/algorithm/);
  });
});

describe('DigestNonceIssuer', () => {
  it('valid while fresh, stale after the lifetime, invalid if forged or for another realm', () => {
    let now = 1_000_000;
    const issuer = new DigestNonceIssuer('secret', 60_000, () => now);
    const nonce = issuer.issue('example.com');
    expect(issuer.check(nonce, 'example.com')).toBe('valid');
    expect(issuer.check(nonce, 'other.example.com')).toBe('invalid');
    expect(new DigestNonceIssuer('other-secret', 60_000, () => now).check(nonce, 'example.com')).toBe(
      'invalid',
    );
    expect(issuer.check('garbage', 'example.com')).toBe('invalid');
    now += 60_001;
    expect(issuer.check(nonce, 'example.com')).toBe('stale');
  });
});
