import { loadConfig } from '@sip-pubsub/platform';
import {
  createDigestAuthorization,
  DigestAuthenticator,
  DigestCredentialsStore,
  type Flow,
  parseDigestChallenge,
  parseMessage,
  type SipRequest,
} from '@sip-pubsub/sip';
import { describe, expect, it } from 'vitest';
import { EdgeAdmission } from './admission.js';
import { parseRatePerSource } from './admission-config.js';
import { edgeConfigSchema } from './config.js';

const udp = (host = '192.0.2.1'): Flow => ({
  transport: 'udp',
  remoteHost: host,
  remotePort: 5060,
  localHost: '127.0.0.1',
  localPort: 5060,
});

let seq = 0;
function request(
  method: string,
  extra: string[] = [],
  opts: { branch?: string; cseq?: number; callId?: string } = {},
): SipRequest {
  const lines = [
    `${method} sip:factory@localhost SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.1;branch=${opts.branch ?? `z9hG4bK${++seq}`}`,
    'Max-Forwards: 70',
    'From: <sip:a@example.com>;tag=f1',
    'To: <sip:factory@localhost>',
    `Call-ID: ${opts.callId ?? `call-${seq}`}`,
    `CSeq: ${opts.cseq ?? 1} ${method}`,
    'Contact: <sip:a@192.0.2.1>',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'))) as SipRequest;
}

describe('EdgeAdmission', () => {
  it('per-source rate: 503 with Retry-After for the noisy source only, refilled with time', () => {
    let t = 0;
    const admission = new EdgeAdmission({
      ratePerSource: { rate: 1, burst: 2 },
      maxInflight: 100,
      mergeWindowMs: 32_000,
      now: () => t,
    });
    const results = [1, 2, 3].map(() => admission.admit(request('OPTIONS'), udp(), undefined));
    expect(results.map((r) => r.kind)).toEqual(['admit', 'admit', 'refuse']);
    expect(results[2]).toMatchObject({
      status: 503,
      cause: 'rate',
      headers: [{ name: 'Retry-After', value: '1' }],
    });
    expect(admission.admit(request('OPTIONS'), udp('192.0.2.2'), undefined).kind).toBe('admit');
    expect(admission.admit(request('ACK'), udp(), undefined).kind).toBe('admit'); // ACK is never refused
    expect(admission.admit(request('CANCEL'), udp(), undefined).kind).toBe('admit'); // CANCEL only ends work
    t = 1_000;
    expect(admission.admit(request('OPTIONS'), udp(), undefined).kind).toBe('admit');
  });

  it('in-flight cap: 503 while the cap is reached, free again after release', () => {
    const admission = new EdgeAdmission({ ratePerSource: null, maxInflight: 2, mergeWindowMs: 32_000 });
    const a = admission.admit(request('OPTIONS'), udp(), undefined);
    const b = admission.admit(request('OPTIONS'), udp(), undefined);
    expect(admission.admit(request('OPTIONS'), udp(), undefined)).toMatchObject({
      kind: 'refuse',
      status: 503,
      cause: 'inflight',
    });
    if (a.kind === 'admit') {
      a.release();
      a.release(); // idempotent
    }
    expect(admission.inflightCount).toBe(1);
    expect(admission.admit(request('OPTIONS'), udp(), undefined).kind).toBe('admit');
    expect(b.kind).toBe('admit');
  });

  it('validation and merged requests come before routing', () => {
    const admission = new EdgeAdmission({ ratePerSource: null, maxInflight: 100, mergeWindowMs: 32_000 });
    expect(admission.admit(request('MESSAGE'), udp(), 'x')).toMatchObject({ status: 405, cause: 'invalid' });
    expect(admission.admit(request('INVITE', ['Require: 100rel']), udp(), 'y')).toMatchObject({
      status: 420,
    });
    const first = request('INVITE', [], { branch: 'z9hG4bKm1', callId: 'merge', cseq: 7 });
    const copy = request('INVITE', [], { branch: 'z9hG4bKm2', callId: 'merge', cseq: 7 });
    expect(admission.admit(first, udp(), 'tx-1').kind).toBe('admit');
    expect(admission.admit(copy, udp(), 'tx-2')).toMatchObject({
      status: 482,
      reason: 'Loop Detected',
      cause: 'merged',
    });
  });

  it('digest: challenge, then admit with the user name', () => {
    const store = DigestCredentialsStore.parse('alice:secret', 'pubsub');
    const auth = new DigestAuthenticator({ realm: 'pubsub', store, secret: 'k' });
    const admission = new EdgeAdmission({
      ratePerSource: null,
      maxInflight: 100,
      mergeWindowMs: 32_000,
      auth,
    });
    const first = admission.admit(request('SUBSCRIBE', ['Event: conference']), udp(), 'a');
    expect(first).toMatchObject({ kind: 'refuse', status: 401, cause: 'auth' });
    if (first.kind !== 'refuse') return;
    const challenge = parseDigestChallenge(first.headers[0].value);
    const retry = request('SUBSCRIBE', ['Event: conference']);
    retry.headers.push({
      name: 'Authorization',
      value: createDigestAuthorization(retry, challenge, { username: 'alice', password: 'secret' }),
    });
    expect(admission.admit(retry, udp(), 'b')).toMatchObject({ kind: 'admit', username: 'alice' });
  });
});

describe('admission configuration', () => {
  it('SIP_RATE_PER_SOURCE takes rate[:burst] or off', () => {
    expect(parseRatePerSource('100')).toEqual({ rate: 100, burst: 200 });
    expect(parseRatePerSource('0.5:3')).toEqual({ rate: 0.5, burst: 3 });
    expect(parseRatePerSource('off')).toBeNull();
    expect(parseRatePerSource('fast')).toBeUndefined();
  });

  it('defaults, and errors that name the variable', () => {
    const config = loadConfig(edgeConfigSchema, {});
    expect(config.SIP_RATE_PER_SOURCE).toEqual({ rate: 200, burst: 400 });
    expect(config.SIP_MAX_INFLIGHT).toBe(10_000);
    expect(config.AUTH_EXEMPT_METHODS).toEqual(['OPTIONS']);
    expect(() => loadConfig(edgeConfigSchema, { SIP_RATE_PER_SOURCE: 'x' })).toThrow(/SIP_RATE_PER_SOURCE/);
    expect(() => loadConfig(edgeConfigSchema, { AUTH_REALM: 'r' })).toThrow(/AUTH_CREDENTIALS_FILE/);
    expect(() => loadConfig(edgeConfigSchema, { AUTH_CREDENTIALS: 'a:b' })).toThrow(/AUTH_REALM/);
  });
});

describe('in-flight headroom for requests within a dialog (issue 7 defect 5)', () => {
  it('new requests stop at the cap while in-dialog ones may use the headroom above it', () => {
    const admission = new EdgeAdmission({ ratePerSource: null, maxInflight: 4, mergeWindowMs: 32_000 });
    const held = [1, 2, 3, 4].map(() => admission.admit(request('OPTIONS'), udp(), undefined));
    expect(held.map((h) => h.kind)).toEqual(['admit', 'admit', 'admit', 'admit']);
    expect(admission.admit(request('OPTIONS'), udp(), undefined)).toMatchObject({
      kind: 'refuse',
      cause: 'inflight',
    });
    const bye = request('BYE');
    bye.headers = bye.headers.map((f) => (f.name === 'To' ? { ...f, value: `${f.value};tag=t9` } : f));
    const inDialog = admission.admit(bye, udp(), undefined);
    expect(inDialog.kind).toBe('admit');
    // The headroom is a quarter of the cap (here 1): the next in-dialog request waits too.
    expect(admission.admit(bye, udp(), undefined)).toMatchObject({ kind: 'refuse', cause: 'inflight' });
    if (inDialog.kind === 'admit') inDialog.release();
    expect(admission.admit(bye, udp(), undefined).kind).toBe('admit');
  });
});
