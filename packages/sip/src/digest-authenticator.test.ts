import { describe, expect, it } from 'vitest';
import {
  computeDigestResponse,
  createDigestAuthorization,
  digestHa1,
  formatDigestCredentials,
  parseDigestChallenge,
} from './digest.js';
import { DigestAuthenticator } from './digest-authenticator.js';
import { CredentialsFormatError, DigestCredentialsStore } from './digest-credentials-store.js';
import type { HeaderField, SipRequest } from './message.js';
import { LocalNonceCountStore } from './nonce-count-store.js';
import { parseMessage } from './parser.js';

const REALM = 'pubsub.example.com';

function request(method: string, headers: string[] = []): SipRequest {
  const text = [
    `${method} sip:factory@pubsub.example.com SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa1',
    'From: <sip:alice@example.com>;tag=f1',
    'To: <sip:factory@pubsub.example.com>',
    'Call-ID: auth-1',
    `CSeq: 1 ${method}`,
    ...headers,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

function setup(credentials = 'alice:wonderland\n') {
  let t = 1_000_000;
  const store = DigestCredentialsStore.parse(credentials, REALM);
  const auth = new DigestAuthenticator({
    realm: REALM,
    store,
    secret: 'shared-secret',
    nonceLifetimeMs: 60_000,
    now: () => t,
  });
  return { auth, advance: (ms: number) => (t += ms) };
}

function challenges(headers: HeaderField[]) {
  return headers.filter((h) => h.name === 'WWW-Authenticate').map((h) => parseDigestChallenge(h.value));
}

function answer(
  auth: DigestAuthenticator,
  method = 'INVITE',
  opts: { algorithm?: 'MD5' | 'SHA-256'; nc?: number; password?: string } = {},
) {
  const first = auth.authenticate(request(method));
  if (first.kind !== 'rejected') throw new Error('expected a challenge');
  const challenge = challenges(first.headers).find((c) => c.algorithm === (opts.algorithm ?? 'SHA-256'));
  if (!challenge) throw new Error('no challenge for the algorithm');
  const req = request(method);
  const value = createDigestAuthorization(req, challenge, {
    username: 'alice',
    password: opts.password ?? 'wonderland',
    nc: opts.nc,
  });
  return { challenge, value, req: request(method, [`Authorization: ${value}`]) };
}

describe('DigestAuthenticator (RFC 3261 §22, RFC 8760)', () => {
  it('challenges with SHA-256 then MD5, qop=auth, one shared nonce', () => {
    const { auth } = setup();
    const out = auth.authenticate(request('INVITE'));
    expect(out).toMatchObject({ kind: 'rejected', status: 401 });
    if (out.kind !== 'rejected') return;
    const parsed = challenges(out.headers);
    expect(parsed.map((c) => c.algorithm)).toEqual(['SHA-256', 'MD5']);
    expect(parsed.every((c) => c.realm === REALM && c.qop?.join() === 'auth' && !c.stale)).toBe(true);
    expect(new Set(parsed.map((c) => c.nonce)).size).toBe(1);
    // Two challenges in the same millisecond still differ, so two clients never share a nonce-count space.
    const again = auth.authenticate(request('INVITE'));
    if (again.kind === 'rejected') expect(challenges(again.headers)[0].nonce).not.toBe(parsed[0].nonce);
  });

  it('accepts correct SHA-256 and MD5 answers and reports the user', () => {
    const { auth } = setup();
    expect(auth.authenticate(answer(auth, 'INVITE').req)).toEqual({
      kind: 'authenticated',
      username: 'alice',
    });
    expect(auth.authenticate(answer(auth, 'SUBSCRIBE', { algorithm: 'MD5' }).req)).toEqual({
      kind: 'authenticated',
      username: 'alice',
    });
  });

  it('a wrong password or unknown user gets a new challenge, not stale', () => {
    const { auth } = setup();
    const out = auth.authenticate(answer(auth, 'INVITE', { password: 'guess' }).req);
    expect(out).toMatchObject({ kind: 'rejected', status: 401 });
    if (out.kind === 'rejected') expect(challenges(out.headers)[0].stale).toBeFalsy();
  });

  it('replaying the same nonce-count is refused; a higher count on the same nonce is accepted', () => {
    const { auth } = setup();
    const { req, challenge } = answer(auth, 'INVITE');
    expect(auth.authenticate(req).kind).toBe('authenticated');
    expect(auth.authenticate(req)).toMatchObject({ kind: 'rejected', status: 401 });
    const next = request('INVITE');
    const value = createDigestAuthorization(next, challenge, {
      username: 'alice',
      password: 'wonderland',
      nc: 2,
    });
    expect(auth.authenticate(request('INVITE', [`Authorization: ${value}`])).kind).toBe('authenticated');
  });

  it('an expired nonce with a correct response gets stale=TRUE', () => {
    const { auth, advance } = setup();
    const { req } = answer(auth, 'INVITE');
    advance(60_001);
    const out = auth.authenticate(req);
    expect(out).toMatchObject({ kind: 'rejected', status: 401 });
    if (out.kind === 'rejected') expect(challenges(out.headers).every((c) => c.stale === true)).toBe(true);
  });

  it('a forged nonce is challenged without stale', () => {
    const { auth } = setup();
    const { value } = answer(auth, 'INVITE');
    const forged = value.replace(/nonce="[^"]+"/, 'nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"');
    const out = auth.authenticate(request('INVITE', [`Authorization: ${forged}`]));
    expect(out).toMatchObject({ kind: 'rejected', status: 401 });
    if (out.kind === 'rejected') expect(challenges(out.headers)[0].stale).toBeFalsy();
  });

  it('credentials without qop (RFC 2069 style) are not enough', () => {
    const { auth } = setup();
    const first = auth.authenticate(request('INVITE'));
    if (first.kind !== 'rejected') throw new Error('expected a challenge');
    const nonce = challenges(first.headers)[0].nonce;
    const ha1 = digestHa1('MD5', 'alice', REALM, 'wonderland');
    const uri = 'sip:factory@pubsub.example.com';
    const response = computeDigestResponse({ ha1, method: 'INVITE', uri, nonce });
    const value = formatDigestCredentials({ username: 'alice', realm: REALM, nonce, uri, response });
    expect(auth.authenticate(request('INVITE', [`Authorization: ${value}`])).kind).toBe('rejected');
  });

  it('ACK and CANCEL pass unchallenged (§22.1)', () => {
    const { auth } = setup();
    expect(auth.authenticate(request('ACK')).kind).toBe('authenticated');
    expect(auth.authenticate(request('CANCEL')).kind).toBe('authenticated');
    expect(auth.authenticate(request('OPTIONS')).kind).toBe('rejected');
    const store = DigestCredentialsStore.parse('alice:x', REALM);
    const lenient = new DigestAuthenticator({ realm: REALM, store, secret: 's', exemptMethods: ['OPTIONS'] });
    expect(lenient.authenticate(request('OPTIONS'))).toEqual({ kind: 'authenticated', username: '' });
  });

  it('an unknown scheme earns a challenge; malformed Digest or a foreign uri is 400', () => {
    const { auth } = setup();
    expect(
      auth.authenticate(request('INVITE', ['Authorization: NoOneKnowsThisScheme opaque-data=here'])),
    ).toMatchObject({ status: 401 });
    expect(auth.authenticate(request('INVITE', ['Authorization: Digest username="alice"']))).toMatchObject({
      status: 400,
    });
    const { value } = answer(auth, 'INVITE');
    const moved = value.replace('uri="sip:factory@pubsub.example.com"', 'uri="sip:other@pubsub.example.com"');
    expect(auth.authenticate(request('INVITE', [`Authorization: ${moved}`]))).toMatchObject({ status: 400 });
  });

  it('credentials for another realm are skipped', () => {
    const { auth } = setup();
    const { value } = answer(auth, 'INVITE');
    const other = value.replace(`realm="${REALM}"`, 'realm="elsewhere"');
    expect(auth.authenticate(request('INVITE', [`Authorization: ${other}`]))).toMatchObject({ status: 401 });
  });

  it('works from stored HA1 values, per algorithm', () => {
    const md5 = digestHa1('MD5', 'alice', REALM, 'wonderland');
    const sha = digestHa1('SHA-256', 'alice', REALM, 'wonderland');
    const { auth } = setup(`# hashed\nalice:${REALM}:${md5}\nalice:${REALM}:${sha}\n`);
    expect(auth.authenticate(answer(auth, 'INVITE', { algorithm: 'MD5' }).req).kind).toBe('authenticated');
    expect(auth.authenticate(answer(auth, 'INVITE', { algorithm: 'SHA-256' }).req).kind).toBe(
      'authenticated',
    );
    const { auth: md5Only } = setup(`alice:${REALM}:${md5}`);
    expect(md5Only.authenticate(answer(md5Only, 'INVITE', { algorithm: 'SHA-256' }).req).kind).toBe(
      'rejected',
    );
  });
});

describe('DigestCredentialsStore', () => {
  it('reads passwords with colons, comments and blank lines', () => {
    const store = DigestCredentialsStore.parse('# users\n\nbob:pa:ss\ncarol:x\n', REALM);
    expect(store.size).toBe(2);
    expect(store.ha1('bob', 'MD5')).toBe(digestHa1('MD5', 'bob', REALM, 'pa:ss'));
    expect(store.ha1('carol', 'SHA-256-sess')).toBe(digestHa1('SHA-256', 'carol', REALM, 'x'));
    expect(store.ha1('dave', 'MD5')).toBeUndefined();
  });

  it('splits the environment form at commas', () => {
    const store = DigestCredentialsStore.parse('a:1,b:2', REALM, 'AUTH_CREDENTIALS', /[\r\n,]+/);
    expect(store.size).toBe(2);
  });

  it('names the entry at fault', () => {
    expect(() => DigestCredentialsStore.parse('ok:1\nnocolon', REALM, 'users.txt')).toThrow(
      new CredentialsFormatError('users.txt entry 2: expected user:password or user:realm:HA1'),
    );
    expect(() => DigestCredentialsStore.parse(`x:other.realm:${'a'.repeat(32)}`, REALM)).toThrow(
      /not the configured realm/,
    );
    expect(() => DigestCredentialsStore.parse('x:', REALM)).toThrow(/empty password/);
  });
});

describe('DigestAuthenticator with a shared nonce-count store (edge replicas)', () => {
  function replicas() {
    let t = 1_000_000;
    const now = () => t;
    const shared = new LocalNonceCountStore(60_000, now);
    const make = () =>
      new DigestAuthenticator({
        realm: REALM,
        store: DigestCredentialsStore.parse('alice:wonderland\n', REALM),
        secret: 'shared-secret',
        nonceLifetimeMs: 60_000,
        now,
        nonceCounts: shared,
      });
    return { a: make(), b: make(), shared, advance: (ms: number) => (t += ms) };
  }

  async function admitted(auth: DigestAuthenticator, req: SipRequest) {
    const outcome = auth.authenticate(req);
    if (outcome.kind !== 'authenticated') return outcome;
    return (await auth.claim(outcome)) ?? outcome;
  }

  it('an Authorization accepted by one replica is challenged when replayed through another', async () => {
    const { a, b } = replicas();
    const { req, challenge } = answer(a, 'INVITE');
    expect(await admitted(a, req)).toMatchObject({ kind: 'authenticated', username: 'alice' });
    // b has never seen this nonce-count (its own check passes): only the shared store knows it was used.
    expect(await admitted(b, req)).toMatchObject({ kind: 'rejected', status: 401 });
    // The victim's next request, nc+1, goes through either replica.
    const next = request('INVITE');
    const value = createDigestAuthorization(next, challenge, {
      username: 'alice',
      password: 'wonderland',
      nc: 2,
    });
    expect(await admitted(b, request('INVITE', [`Authorization: ${value}`]))).toMatchObject({
      kind: 'authenticated',
    });
  });

  it('two replicas racing on the same nonce-count accept it once', async () => {
    const { a, b } = replicas();
    const { req } = answer(a, 'INVITE');
    const results = await Promise.all([admitted(a, req), admitted(b, req)]);
    expect(results.map((r) => r.kind).sort()).toEqual(['authenticated', 'rejected']);
  });

  it('the response covers the method: an INVITE Authorization on a BYE is refused', async () => {
    const { a } = replicas();
    const { value } = answer(a, 'INVITE');
    expect(a.authenticate(request('BYE', [`Authorization: ${value}`]))).toMatchObject({
      kind: 'rejected',
      status: 401,
    });
  });

  it('a store that cannot be reached makes claim reject (the caller refuses the request)', async () => {
    const auth = new DigestAuthenticator({
      realm: REALM,
      store: DigestCredentialsStore.parse('alice:wonderland\n', REALM),
      secret: 's',
      nonceCounts: { claim: () => Promise.reject(new Error('KV down')) },
    });
    const { req } = answer(auth, 'INVITE');
    const outcome = auth.authenticate(req);
    await expect(auth.claim(outcome)).rejects.toThrow('KV down');
  });

  it('the local store forgets a nonce-count after the nonce lifetime', async () => {
    let t = 0;
    const store = new LocalNonceCountStore(1_000, () => t);
    expect(await store.claim({ nonce: 'n', nc: 1 })).toBe(true);
    expect(await store.claim({ nonce: 'n', nc: 1 })).toBe(false);
    t = 2_000;
    expect(await store.claim({ nonce: 'm', nc: 1 })).toBe(true);
    expect(store.size).toBe(1);
  });
});
