import { InProcessKvStore } from '@sip-pubsub/platform';
import {
  createDigestAuthorization,
  DigestAuthenticator,
  DigestCredentialsStore,
  parseDigestChallenge,
  parseMessage,
  type SipRequest,
} from '@sip-pubsub/sip';
import { describe, expect, it } from 'vitest';
import { EdgeAdmission } from './admission.js';
import { confirmNonceUse, fromIdentityRefusal } from './identity.js';
import { KvNonceCountStore } from './nonce-counts.js';

const REALM = 'pubsub.test';
const flow = {
  transport: 'udp' as const,
  remoteHost: '192.0.2.1',
  remotePort: 5060,
  localHost: '127.0.0.1',
  localPort: 5060,
};

function request(method: string, from: string, extra: string[] = []): SipRequest {
  const lines = [
    `${method} sip:factory@localhost SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK${Math.random().toString(36).slice(2)}`,
    'Max-Forwards: 70',
    `From: ${from};tag=f1`,
    'To: <sip:factory@localhost>',
    'Call-ID: identity-1',
    `CSeq: 1 ${method}`,
    'Contact: <sip:a@192.0.2.1>',
    'Subject: t',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'))) as SipRequest;
}

describe('fromIdentityRefusal', () => {
  it('accepts a From whose user part is the authenticated user, on any host, escaped or not', () => {
    expect(fromIdentityRefusal(request('INVITE', '<sip:alice@localhost>'), 'alice')).toBeUndefined();
    expect(fromIdentityRefusal(request('INVITE', '"A" <sips:alice@10.0.0.1:5061>'), 'alice')).toBeUndefined();
    expect(fromIdentityRefusal(request('INVITE', '<sip:al%69ce@localhost>'), 'alice')).toBeUndefined();
  });

  it('refuses another user, no user part, or a non-SIP URI', () => {
    const reason = 'From Does Not Match Authenticated Identity';
    expect(fromIdentityRefusal(request('INVITE', '<sip:alice@localhost>'), 'bob')).toBe(reason);
    expect(fromIdentityRefusal(request('INVITE', '<sip:localhost>'), 'bob')).toBe(reason);
    expect(fromIdentityRefusal(request('INVITE', '<tel:+1555>'), 'bob')).toBe(reason);
  });
});

describe('KvNonceCountStore', () => {
  it('accepts a nonce-count once, even when two replicas race on it', async () => {
    const bucket = await new InProcessKvStore().bucket('auth-nonce-counts', { ttlMs: 60_000 });
    const a = new KvNonceCountStore(bucket);
    const b = new KvNonceCountStore(bucket);
    const raced = await Promise.all([a.claim({ nonce: 'n-1', nc: 1 }), b.claim({ nonce: 'n-1', nc: 1 })]);
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect(await b.claim({ nonce: 'n-1', nc: 2 })).toBe(true);
    expect(await a.claim({ nonce: 'n-2', nc: 1 })).toBe(true);
  });

  it('forgets a nonce-count once the bucket entry expired (the nonce is stale by then)', async () => {
    let t = 0;
    const bucket = await new InProcessKvStore({ clock: { now: () => t } }).bucket('n', { ttlMs: 1_000 });
    const store = new KvNonceCountStore(bucket);
    expect(await store.claim({ nonce: 'x', nc: 1 })).toBe(true);
    expect(await store.claim({ nonce: 'x', nc: 1 })).toBe(false);
    t = 1_000;
    expect(await store.claim({ nonce: 'x', nc: 1 })).toBe(true);
  });
});

describe('two edge admissions sharing the nonce-count store', () => {
  it('a replay through the other edge is challenged; the next nonce-count is admitted', async () => {
    const bucket = await new InProcessKvStore().bucket('auth-nonce-counts', { ttlMs: 60_000 });
    const edge = () => {
      const auth = new DigestAuthenticator({
        realm: REALM,
        store: DigestCredentialsStore.parse('alice:wonderland', REALM),
        secret: 'shared',
        nonceCounts: new KvNonceCountStore(bucket),
      });
      return {
        auth,
        admission: new EdgeAdmission({ ratePerSource: null, maxInflight: 100, auth, mergeWindowMs: 1 }),
      };
    };
    const one = edge();
    const two = edge();
    const first = one.admission.admit(request('INVITE', '<sip:alice@localhost>'), flow, undefined);
    if (first.kind !== 'refuse') throw new Error('expected a challenge');
    const challenge = parseDigestChallenge(first.headers[0].value);
    const signed = (nc: number) => {
      const req = request('INVITE', '<sip:alice@localhost>');
      const value = createDigestAuthorization(req, challenge, {
        username: 'alice',
        password: 'wonderland',
        nc,
      });
      return request('INVITE', '<sip:alice@localhost>', [`Authorization: ${value}`]);
    };
    const through = async (e: ReturnType<typeof edge>, req: SipRequest) => {
      const admitted = e.admission.admit(req, flow, undefined);
      if (admitted.kind !== 'admit') return admitted.status;
      admitted.release();
      return (await confirmNonceUse(e.auth, admitted))?.status ?? 200;
    };
    const captured = signed(1);
    expect(await through(one, captured)).toBe(200);
    expect(await through(two, captured)).toBe(401);
    expect(await through(two, signed(2))).toBe(200);
    expect(await through(one, signed(2))).toBe(401);
  });
});
