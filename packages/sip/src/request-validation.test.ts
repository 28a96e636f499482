import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SipRequest } from './message.js';
import { parseMessage } from './parser.js';
import { type RequestValidationPolicy, validateRequest } from './request-validation.js';

const FOCUS_METHODS = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'SUBSCRIBE', 'PUBLISH', 'REFER'];
const policy: RequestValidationPolicy = {
  allowedMethods: FOCUS_METHODS,
  acceptedContentTypes: { INVITE: ['application/sdp'] },
  maxBodySize: 64,
};

function request(
  method: string,
  extra: string[] = [],
  opts: { uri?: string; body?: string; toTag?: boolean } = {},
): SipRequest {
  const body = opts.body ?? '';
  const lines = [
    `${method} ${opts.uri ?? 'sip:conf-a@example.com'} SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKv1',
    'Max-Forwards: 70',
    'From: <sip:a@example.com>;tag=f1',
    `To: <sip:conf-a@example.com>${opts.toTag ? ';tag=t1' : ''}`,
    'Call-ID: c1@example.com',
    `CSeq: 5 ${method}`,
    ...extra,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'))) as SipRequest;
}

const contact = 'Contact: <sip:a@192.0.2.1:5060>';

describe('validateRequest (§8.2)', () => {
  it('passes a well-formed request', () => {
    expect(
      validateRequest(
        request('INVITE', [contact, 'Content-Type: application/sdp'], { body: 'v=0\r\n' }),
        policy,
      ),
    ).toBeUndefined();
    expect(validateRequest(request('OPTIONS'), policy)).toBeUndefined();
  });

  it('405 with Allow for a known method not served, 501 for an unknown one', () => {
    const r405 = validateRequest(request('REGISTER', [contact]), policy);
    expect(r405).toMatchObject({ status: 405 });
    expect(r405?.headers).toEqual([{ name: 'Allow', value: FOCUS_METHODS.join(', ') }]);
    const r501 = validateRequest(request('FROBNICATE'), policy);
    expect(r501?.status).toBe(501);
    expect(r501?.reason).toContain('FROBNICATE');
  });

  it('416 for a Request-URI scheme not served (tel parses but is not ours)', () => {
    expect(validateRequest(request('OPTIONS', [], { uri: 'tel:+15551234' }), policy)?.status).toBe(416);
    expect(
      validateRequest(request('OPTIONS', [], { uri: 'tel:+15551234' }), {
        ...policy,
        uriSchemes: ['sip', 'tel'],
      }),
    ).toBeUndefined();
  });

  it('400 for a Request-URI with headers (§19.1.1)', () => {
    const r = validateRequest(request('OPTIONS', [], { uri: 'sip:conf-a@example.com?Subject=x' }), policy);
    expect(r).toMatchObject({ status: 400, reason: 'Request-URI must not carry headers' });
  });

  it('420 listing each unknown Require tag once; known tags and Supported pass', () => {
    const r = validateRequest(
      request('INVITE', [contact, 'Require: replaces, foo', 'Require: bar, foo']),
      policy,
    );
    expect(r?.status).toBe(420);
    expect(r?.headers).toEqual([{ name: 'Unsupported', value: 'foo, bar' }]);
    expect(
      validateRequest(request('INVITE', [contact, 'Require: join', 'Supported: timer, 100rel']), policy),
    ).toBeUndefined();
  });

  it('CANCEL and ACK are never refused for Require (§8.2.2.3)', () => {
    expect(validateRequest(request('CANCEL', ['Require: foo']), policy)).toBeUndefined();
    expect(validateRequest(request('ACK', ['Require: foo']), policy)).toBeUndefined();
  });

  it('Proxy-Require counts only for an element that forwards', () => {
    const req = request('OPTIONS', ['Proxy-Require: foo']);
    expect(validateRequest(req, policy)).toBeUndefined();
    expect(validateRequest(req, { ...policy, forwards: true })?.headers).toEqual([
      { name: 'Unsupported', value: 'foo' },
    ]);
  });

  it('Max-Forwards 0: processed by a UAS, 483 from a forwarding element except for OPTIONS', () => {
    const invite = request('INVITE', [contact]);
    invite.headers = invite.headers.map((h) => (h.name === 'Max-Forwards' ? { ...h, value: '0' } : h));
    expect(validateRequest(invite, policy)).toBeUndefined();
    expect(validateRequest(invite, { ...policy, forwards: true })?.status).toBe(483);
    const options = request('OPTIONS');
    options.headers = options.headers.map((h) => (h.name === 'Max-Forwards' ? { ...h, value: '0' } : h));
    expect(validateRequest(options, { ...policy, forwards: true })).toBeUndefined();
  });

  it('400 naming the header for broken values the parser lets through', () => {
    const cases: [string, string[], string][] = [
      ['SUBSCRIBE', [contact, 'Event: conference', 'Expires: soon'], 'Expires'],
      ['SUBSCRIBE', [contact, 'Event: conference', 'Expires: 99999999999'], 'Expires'],
      ['SUBSCRIBE', [contact, 'Event: ;id=1'], 'Event'],
      ['SUBSCRIBE', [contact], 'Missing Event'],
      ['INVITE', ['Content-Type: application/sdp'], 'Missing Contact'],
      ['INVITE', ['Contact: <sip:a@192.0.2.1>;expires=x'], 'Contact'],
      ['INVITE', ['Contact: *, <sip:a@192.0.2.1>'], 'Contact'],
      ['INVITE', [contact, 'Require: a b'], 'Require'],
      ['INVITE', [contact, 'Replaces: abc;to-tag=1'], 'Replaces'],
      ['INVITE', [contact, 'Content-Type: sdp'], 'Content-Type'],
      ['INVITE', [contact, 'Date: Sat, 13 Nov 2010 23:29:00 PST'], 'Date'],
      ['INVITE', [contact, 'Route: <sip:p.example.com;lr'], 'Route'],
      ['REFER', [contact, 'Refer-Sub: maybe', 'Refer-To: <sip:b@example.com>'], 'Refer-Sub'],
      ['REFER', [contact], 'Refer-To'],
      ['PUBLISH', ['Event: pubsub-data', 'SIP-If-Match: a b'], 'SIP-If-Match'],
    ];
    for (const [method, extra, names] of cases) {
      const r = validateRequest(request(method, extra), policy);
      expect(r?.status, `${method} ${extra.join(' | ')}`).toBe(400);
      expect(r?.reason).toContain(names);
    }
  });

  it('Max-Forwards above 255 is 400', () => {
    const req = request('OPTIONS');
    req.headers = req.headers.map((h) => (h.name === 'Max-Forwards' ? { ...h, value: '300' } : h));
    expect(validateRequest(req, policy)).toMatchObject({
      status: 400,
      reason: 'Invalid Max-Forwards header: 300',
    });
  });

  it('an in-dialog INVITE (To tag) needs no Contact check beyond syntax', () => {
    expect(validateRequest(request('INVITE', [], { toTag: true }), policy)).toBeUndefined();
  });

  it('Content-Length is required on a stream transport', () => {
    const req = request('OPTIONS');
    req.headers = req.headers.filter((h) => h.name !== 'Content-Length');
    expect(validateRequest(req, policy)).toBeUndefined();
    expect(validateRequest(req, { ...policy, reliable: true })?.reason).toBe(
      'Missing Content-Length on a stream transport',
    );
  });

  it('413 for a body over the limit, 415 with Accept for a type not taken', () => {
    expect(
      validateRequest(
        request('INVITE', [contact, 'Content-Type: application/sdp'], { body: 'x'.repeat(65) }),
        policy,
      )?.status,
    ).toBe(413);
    const r = validateRequest(
      request('INVITE', [contact, 'Content-Type: text/plain'], { body: 'hi' }),
      policy,
    );
    expect(r).toMatchObject({ status: 415, headers: [{ name: 'Accept', value: 'application/sdp' }] });
    expect(
      validateRequest(
        request('INVITE', [contact, 'Content-Type: Application/SDP;charset=x'], { body: 'v=0' }),
        policy,
      ),
    ).toBeUndefined();
    expect(validateRequest(request('INVITE', [contact], { body: 'v=0' }), policy)?.reason).toBe(
      'Body without Content-Type',
    );
  });

  it('never throws, whatever the header values (fast-check)', () => {
    const names = fc.constantFrom(
      'Expires',
      'Min-Expires',
      'Event',
      'Subscription-State',
      'Refer-Sub',
      'Refer-To',
      'Replaces',
      'Join',
      'SIP-If-Match',
      'Content-Type',
      'Date',
      'Route',
      'Record-Route',
      'Require',
      'Proxy-Require',
      'Supported',
      'Allow',
      'Allow-Events',
      'Contact',
      'Max-Forwards',
      'To',
      'From',
      'CSeq',
      'Retry-After',
      'Content-Length',
    );
    const value = fc.oneof(
      fc.string(),
      fc.stringMatching(/^[ -~]{0,40}$/),
      fc.constantFrom('*', '', ';', '<', '"', '0', '-1'),
    );
    const methods = fc.constantFrom(...FOCUS_METHODS, 'NOTIFY', 'FOO');
    fc.assert(
      fc.property(
        methods,
        fc.array(fc.tuple(names, value), { maxLength: 6 }),
        fc.boolean(),
        (method, fields, reliable) => {
          const req = request(method, [contact]);
          for (const [name, v] of fields) req.headers.push({ name, value: v });
          const result = validateRequest(req, { ...policy, reliable, forwards: reliable });
          if (result !== undefined) {
            expect(result.status).toBeGreaterThanOrEqual(400);
            expect(result.reason).not.toMatch(/[\r\n]/);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('issue 7 defect 8: bad input that reached an owner and got 500', () => {
  it('400 naming Contact for a Contact field that names no contact (`,,,`)', () => {
    for (const method of ['INVITE', 'SUBSCRIBE', 'OPTIONS']) {
      const refused = validateRequest(request(method, ['Contact: ,,,', 'Event: conference']), policy);
      expect(refused?.status, method).toBe(400);
      expect(refused?.reason, method).toMatch(/Contact/);
    }
  });

  it('400 naming the From tag for a SUBSCRIBE without one (RFC 3261 §8.1.1.3)', () => {
    const withoutTag = request('SUBSCRIBE', [contact, 'Event: conference']);
    withoutTag.headers = withoutTag.headers.map((f) =>
      f.name === 'From' ? { ...f, value: '<sip:a@example.com>' } : f,
    );
    expect(validateRequest(withoutTag, policy)).toMatchObject({
      status: 400,
      reason: expect.stringMatching(/From tag/),
    });
    const emptyTag = request('SUBSCRIBE', [contact, 'Event: conference']);
    emptyTag.headers = emptyTag.headers.map((f) =>
      f.name === 'From' ? { ...f, value: '<sip:a@example.com>;tag=' } : f,
    );
    expect(validateRequest(emptyTag, policy)?.status).toBe(400);
    expect(validateRequest(request('SUBSCRIBE', [contact, 'Event: conference']), policy)).toBeUndefined();
  });

  it('400 Missing Contact for a SUBSCRIBE that would create a dialog without one', () => {
    expect(validateRequest(request('SUBSCRIBE', ['Event: conference']), policy)).toMatchObject({
      status: 400,
      reason: 'Missing Contact header',
    });
  });

  it('property: a Contact of only commas and blanks is refused with 400 naming Contact, never thrown', () => {
    const blanks = fc.stringMatching(/^[ ,\t]*,[ ,\t]*$/);
    const methods = fc.constantFrom('INVITE', 'SUBSCRIBE', 'OPTIONS', 'BYE', 'REFER');
    fc.assert(
      fc.property(methods, blanks, fc.boolean(), (method, value, toTag) => {
        const req = request(
          method,
          [`Contact: ${value}`, 'Event: conference', 'Refer-To: <sip:b@example.com>'],
          {
            toTag,
          },
        );
        const refused = validateRequest(req, policy);
        expect(refused?.status).toBe(400);
        expect(refused?.reason).toMatch(/Contact/);
      }),
    );
  });

  it('property: a SUBSCRIBE with any From without a usable tag gets 400, never a throw', () => {
    const from = fc.oneof(
      fc.constant('<sip:a@example.com>'),
      fc.constant('<sip:a@example.com>;tag='),
      fc.constant('sip:a@example.com;x=1'),
      fc.stringMatching(/^"[a-z ]{0,8}" <sip:[a-z]{1,6}@example\.com>(;[a-z]{1,4}=[a-z0-9]{1,4})?$/),
    );
    fc.assert(
      fc.property(from, fc.boolean(), (value, toTag) => {
        const req = request('SUBSCRIBE', [contact, 'Event: conference'], { toTag });
        req.headers = req.headers.map((f) => (f.name === 'From' ? { ...f, value } : f));
        const refused = validateRequest(req, policy);
        if (/;tag=[^;]/.test(value)) expect(refused).toBeUndefined();
        else expect(refused).toMatchObject({ status: 400, reason: expect.stringMatching(/From tag/) });
      }),
    );
  });
});
