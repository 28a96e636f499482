// RFC 4475 torture messages, one test per message of §3.1.1, §3.1.2, §3.2 and §3.3 (and §3.4's RFC 2543
// INVITE). Every message below was written for this suite from the RFC's description of what each one
// exercises; none is a copy of the RFC's bytes. Each test asserts what parser and §8.2 validation do.
import { describe, expect, it } from 'vitest';
import { parseContacts } from './contact.js';
import { DigestAuthenticator } from './digest-authenticator.js';
import { DigestCredentialsStore } from './digest-credentials-store.js';
import { SipParseError } from './errors.js';
import { getHeader, getHeaders } from './headers.js';
import type { SipMessage, SipRequest, SipResponse } from './message.js';
import { parseNameAddr } from './name-addr.js';
import { parseMessage } from './parser.js';
import { type RequestValidationPolicy, validateRequest } from './request-validation.js';
import { serverTransactionKey } from './transaction-key.js';
import { parseUri } from './uri.js';
import { parseVia } from './via.js';

/** The broker's policy (services/signalling-edge admission), restated so these tests stand alone. */
const EDGE: RequestValidationPolicy = {
  allowedMethods: [
    'INVITE',
    'ACK',
    'CANCEL',
    'OPTIONS',
    'BYE',
    'REFER',
    'SUBSCRIBE',
    'NOTIFY',
    'PUBLISH',
    'INFO',
    'UPDATE',
  ],
  acceptedContentTypes: { INVITE: ['application/sdp'] },
  producedContentTypes: { INVITE: ['application/sdp'] },
};
/** A registrar-like policy for the REGISTER messages of the RFC. */
const REGISTRAR: RequestValidationPolicy = { ...EDGE, allowedMethods: [...EDGE.allowedMethods, 'REGISTER'] };

const wire = (lines: string[], body = ''): Buffer =>
  Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'utf8');
const request = (data: Buffer): SipRequest => {
  const msg = parseMessage(data);
  expect(msg.kind).toBe('request');
  return msg as SipRequest;
};
const response = (data: Buffer): SipResponse => {
  const msg = parseMessage(data);
  expect(msg.kind).toBe('response');
  return msg as SipResponse;
};
/** The parser's verdict: the SipParseError it throws. */
function parseFailure(data: Buffer): SipParseError {
  try {
    parseMessage(data);
  } catch (err) {
    if (err instanceof SipParseError) return err;
    throw err;
  }
  throw new Error('expected the message to be refused');
}

const sdp = [
  'v=0',
  'o=torture 1 1 IN IP4 192.0.2.5',
  's=-',
  'c=IN IP4 192.0.2.5',
  't=0 0',
  'm=text 40000 RTP/AVP 98',
  'a=rtpmap:98 t140/1000',
  '',
].join('\r\n');

describe('RFC 4475 §3.1.1 valid messages', () => {
  it('3.1.1.1 a short tortuous INVITE: folding, odd whitespace, compact and mixed-case names', () => {
    const msg = request(
      wire(
        [
          'INVITE sip:torture.target@pubsub.example.com;odd-param SIP/2.0',
          'tO   :',
          '   sip:torture.target@pubsub.example.com  ;   tag   =   9d8c7b',
          'FROM  : "Torture \\"Tester\\""   <sip:tester@example.net>',
          '    ;',
          '  tag = ab12',
          'MAX-fORWARDS: 0042',
          'Call-id: tortuous.1@192.0.2.5',
          `Content-LENGTH   :   ${Buffer.byteLength(sdp)}`,
          'cseq: 0017',
          '  INVITE',
          'Via  : SIP  /   2.0',
          '  /UDP',
          '     192.0.2.5;branch=z9hG4bKtort1',
          's :',
          'Odd-Extension:   first part',
          '   of the value',
          'Empty-Looking-Extension: ;;,,;,',
          'c: application/sdp',
          'Route:',
          ' <sip:edge.example.com;lr;kind=odd;flag>',
          'v:  SIP / 2.0 / TCP  relay.example.net   ;',
          '   branch  =  z9hG4bKtort2 ,',
          ' SIP  /  2.0 /  UDP  192.0.2.6  ;  branch=',
          '  z9hG4bKtort3',
          'm:"Quoted \\"\\"" <sip:tester@192.0.2.5> ; first =',
          '    value ;',
          '  second ; q = 0.5',
        ],
        sdp,
      ),
    );
    expect(msg.method).toBe('INVITE');
    expect(getHeader(msg, 'Max-Forwards')).toBe('0042');
    expect(getHeader(msg, 'CSeq')).toBe('0017 INVITE');
    expect(getHeader(msg, 'Subject')).toBe('');
    expect(getHeader(msg, 'Odd-Extension')).toBe('first part of the value');
    expect(getHeader(msg, 'Empty-Looking-Extension')).toBe(';;,,;,');
    expect(parseNameAddr(getHeader(msg, 'To') ?? '')).toEqual({
      uri: 'sip:torture.target@pubsub.example.com',
      params: { tag: '9d8c7b' },
    });
    const from = parseNameAddr(getHeader(msg, 'From') ?? '');
    expect(from).toEqual({
      displayName: 'Torture "Tester"',
      uri: 'sip:tester@example.net',
      params: { tag: 'ab12' },
    });
    const vias = getHeaders(msg, 'Via').map(parseVia);
    expect(vias.map((v) => [v.transport, v.host, v.branch])).toEqual([
      ['UDP', '192.0.2.5', 'z9hG4bKtort1'],
      ['TCP', 'relay.example.net', 'z9hG4bKtort2'],
      ['UDP', '192.0.2.6', 'z9hG4bKtort3'],
    ]);
    const contact = parseNameAddr(getHeader(msg, 'Contact') ?? '');
    expect(contact).toEqual({
      displayName: 'Quoted ""',
      uri: 'sip:tester@192.0.2.5',
      params: { first: 'value', second: null, q: '0.5' },
    });
    expect(msg.body.toString()).toBe(sdp);
    expect(validateRequest(msg, EDGE)).toBeUndefined();
  });

  it('3.1.1.2 a wide range of valid characters: exotic method token, URI user and password, header names', () => {
    const method = "!odd-Method0123456789_*+`.%really'~";
    const uri =
      "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com";
    const msg = request(
      wire([
        `${method} ${uri} SIP/2.0`,
        "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
        'To: "BEL:\\\u0007 NUL:\\\u0000 DEL:\\\u007f" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*@example.com>',
        "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439\";tag=_token~1'+`*%!-.",
        'Call-ID: intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{',
        `CSeq: 139122385 ${method}`,
        'Max-Forwards: 255',
        "extensionHeader-!.%*+_`'~: \uFEFF\u5927\u505c\u96fb",
        'Content-Length: 0',
      ]),
    );
    expect(msg.method).toBe(method);
    const parsed = parseUri(msg.uri);
    expect(parsed.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    expect(parsed.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    expect(getHeader(msg, "extensionHeader-!.%*+_`'~")).toBe('\uFEFF\u5927\u505c\u96fb');
    expect(parseNameAddr(getHeader(msg, 'From') ?? '').params.tag).toBe("_token~1'+`*%!-.");
    // Controls escaped by a backslash inside a quoted string are legal quoted-pairs.
    expect(parseNameAddr(getHeader(msg, 'To') ?? '').displayName).toBe('BEL:\u0007 NUL:\u0000 DEL:\u007f');
    // The method is a valid token the stack does not know: 501.
    expect(validateRequest(msg, EDGE)).toMatchObject({ status: 501 });
  });

  it('3.1.1.3 valid %-escaping in the Request-URI and header URIs', () => {
    const msg = request(
      wire(
        [
          'INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0',
          'To: sip:%75se%72@example.com',
          'From: <sip:I%20have%20spaces@example.net>;tag=1234',
          'Max-Forwards: 87',
          'i: esc01.239409asdfakjkn23onasd0-3234',
          'CSeq: 234234 INVITE',
          'Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw',
          'C: application/sdp',
          'Contact: <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>',
          `Content-Length: ${Buffer.byteLength(sdp)}`,
        ],
        sdp,
      ),
    );
    expect(parseUri(msg.uri)).toMatchObject({ user: 'sips%3Auser%40example.com', host: 'example.net' });
    const contact = parseContacts(getHeaders(msg, 'Contact'));
    expect(contact.wildcard).toBe(false);
    if (!contact.wildcard)
      expect(parseUri(contact.contacts[0].uri).params).toEqual({
        '%6c%72': null,
        'n%61me': 'v%61lue%25%34%31',
      });
    expect(validateRequest(msg, EDGE)).toBeUndefined();
  });

  it('3.1.1.4 escaped NULs in URIs are just bytes of the user part', () => {
    const msg = request(
      wire([
        'REGISTER sip:example.com SIP/2.0',
        'To: sip:null-%00-null@example.com',
        'From: sip:null-%00-null@example.com;tag=839923423',
        'Max-Forwards: 70',
        'Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd',
        'CSeq: 14398234 REGISTER',
        'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw',
        'Contact: <sip:%00@host5.example.com>',
        'Contact: <sip:%00%00@host5.example.com>',
        'L:0',
      ]),
    );
    expect(parseUri(parseNameAddr(getHeader(msg, 'To') ?? '').uri).user).toBe('null-%00-null');
    expect(getHeaders(msg, 'Contact')).toHaveLength(2);
    expect(validateRequest(msg, REGISTRAR)).toBeUndefined();
    expect(validateRequest(msg, EDGE)).toMatchObject({ status: 405 }); // the broker registers nobody
  });

  it('3.1.1.5 a % that is not an escape: the method RE%47IST%45R is not REGISTER', () => {
    const msg = request(
      wire([
        'RE%47IST%45R sip:registrar.example.com SIP/2.0',
        'To: "%Z%45" <sip:resource@example.com>',
        'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23',
        'Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf',
        'Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209323',
        'CSeq: 29344 RE%47IST%45R',
        'Max-Forwards: 70',
        'Contact: <sip:alias1@host1.example.com>',
        'Contact: <sip:alias2@host2.example.com>',
        'Contact: <sip:alias3@host3.example.com>',
        'l: 0',
      ]),
    );
    expect(msg.method).toBe('RE%47IST%45R');
    expect(parseNameAddr(getHeader(msg, 'To') ?? '').displayName).toBe('%Z%45');
    expect(validateRequest(msg, REGISTRAR)).toMatchObject({ status: 501 });
  });

  it('3.1.1.6 no LWS between display name and <', () => {
    const msg = request(
      wire([
        'OPTIONS sip:user@example.com SIP/2.0',
        'To: sip:user@example.com',
        'From: caller<sip:caller@example.com>;tag=323',
        'Max-Forwards: 70',
        'Call-ID: lwsdisp.1234abcd@funky.example.com',
        'CSeq: 60 OPTIONS',
        'Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw',
        'l: 0',
      ]),
    );
    expect(parseNameAddr(getHeader(msg, 'From') ?? '')).toEqual({
      displayName: 'caller',
      uri: 'sip:caller@example.com',
      params: { tag: '323' },
    });
    expect(validateRequest(msg, EDGE)).toBeUndefined();
  });

  it('3.1.1.7 long values everywhere: display names, tags, Call-ID, many Vias, an unknown header', () => {
    const long = 'very'.repeat(80);
    const vias = Array.from(
      { length: 30 },
      (_, i) => `Via: SIP/2.0/TCP sip${i}.example.com;branch=z9hG4bK${long}${i}`,
    );
    const msg = request(
      wire(
        [
          'INVITE sip:user@example.com SIP/2.0',
          `To: "I have a user name of ${long} proportion" <sip:user@example.com:6000;unknownparam1=${long}value;longparam${long}name=shortvalue;${long}ParameterWithNoValue>`,
          `F: sip:${long}user@example.net;tag=12982${long}424;unknownheaderparam${long}name=unknowheaderparam${long}value;unknownValueless${long}paramname`,
          `Call-ID: longreq.one${long}`,
          `CSeq: 3882340 INVITE`,
          `Unknown-${long}-Header: unknown-${long}-value; unknown-${long}-parameter-name = unknown-${long}-parameter-value`,
          ...vias,
          'Max-Forwards: 70',
          `Contact: <sip:amazinglylongcallername${long}@host5.example.net>`,
          'Content-Type: application/sdp',
          `l: ${Buffer.byteLength(sdp)}`,
        ],
        sdp,
      ),
    );
    expect(getHeaders(msg, 'Via')).toHaveLength(30);
    expect(getHeader(msg, 'Call-ID')).toBe(`longreq.one${long}`);
    expect(parseNameAddr(getHeader(msg, 'To') ?? '').displayName).toContain(long);
    expect(validateRequest(msg, EDGE)).toBeUndefined();
  });

  it('3.1.1.8 octets after the first message in a datagram are ignored (Content-Length rules, §18.3)', () => {
    const register = [
      'REGISTER sip:example.com SIP/2.0',
      'To: sip:j.user@example.com',
      'From: sip:j.user@example.com;tag=43251j3j324',
      'Max-Forwards: 8',
      'I: dblreq.0ha0isndaksdj99sdfafnl3lk233412',
      'Contact: sip:j.user@host.example.com',
      'CSeq: 8 REGISTER',
      'Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492',
      'Content-Length: 0',
    ].join('\r\n');
    const invite = [
      'INVITE sip:joe@example.com SIP/2.0',
      't: sip:joe@example.com',
      'From: sip:caller@example.net;tag=141334',
      'Max-Forwards: 8',
      'Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15',
      'CSeq: 8 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234',
      'Content-Type: application/sdp',
      `Content-Length: ${sdp.length}`,
      '',
      sdp,
    ].join('\r\n');
    const msg = request(Buffer.from(`${register}\r\n\r\n${invite}`));
    expect(msg.method).toBe('REGISTER');
    expect(msg.body.length).toBe(0);
    expect(validateRequest(msg, REGISTRAR)).toBeUndefined();
  });

  it('3.1.1.9 a ; inside the user part of the Request-URI is not a URI parameter', () => {
    const msg = request(
      wire([
        'OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0',
        'To: sip:j_user@example.com',
        'From: sip:caller@example.org;tag=33242',
        'Max-Forwards: 3',
        'Call-ID: semiuri.0ha0isndaksdj',
        'CSeq: 8 OPTIONS',
        'Accept: application/sdp, application/pkcs7-mime,',
        '        multipart/mixed, multipart/signed,',
        '        message/sip, message/sipfrag',
        'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw',
        'l: 0',
      ]),
    );
    expect(parseUri(msg.uri)).toMatchObject({
      user: 'user;par=u%40example.net',
      host: 'example.com',
      params: {},
    });
    expect(getHeaders(msg, 'Accept')).toHaveLength(6);
    expect(validateRequest(msg, EDGE)).toBeUndefined();
  });

  it('3.1.1.10 known and unknown transports in Via', () => {
    const msg = request(
      wire([
        'OPTIONS sip:user@example.com SIP/2.0',
        'To: sip:user@example.com',
        'From: <sip:caller@example.com>;tag=323',
        'Max-Forwards: 70',
        'Call-ID: transports.kijh4akdnaqjkwendsasfdj',
        'Accept: application/sdp',
        'CSeq: 60 OPTIONS',
        'Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw',
        'Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf',
        'Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj',
        'Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en',
        'Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee',
        'l: 0',
      ]),
    );
    expect(getHeaders(msg, 'Via').map((v) => parseVia(v).transport)).toEqual([
      'UDP',
      'SCTP',
      'TLS',
      'UNKNOWN',
      'TCP',
    ]);
    expect(validateRequest(msg, EDGE)).toBeUndefined();
  });

  it('3.1.1.11 a multipart body is passed through byte for byte', () => {
    const boundary = '7a9cbec02ceef655';
    const body = [
      `--${boundary}`,
      'Content-Type: text/plain',
      'Content-Transfer-Encoding: binary',
      '',
      'Hello',
      `--${boundary}`,
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: binary',
      '',
      '\u00ff\u0000\u0001binary',
      `--${boundary}--`,
      '',
    ].join('\r\n');
    const bytes = Buffer.from(body, 'latin1');
    const head = [
      'MESSAGE sip:kumiko@example.org SIP/2.0',
      'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport',
      'Max-Forwards: 70',
      'Route: <sip:127.0.0.1:5080>',
      'Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=',
      'Contact: <sip:fluffy@127.0.0.1:5070>',
      'To: <sip:kumiko@example.org>',
      'From: <sip:fluffy@example.com>;tag=2fb0dcc9',
      'Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..',
      'CSeq: 1 MESSAGE',
      `Content-Type: multipart/mixed;boundary=${boundary}`,
      `Content-Length: ${bytes.length}`,
      '',
      '',
    ].join('\r\n');
    const msg = request(Buffer.concat([Buffer.from(head), bytes]));
    expect(msg.body.equals(bytes)).toBe(true);
    expect(validateRequest(msg, EDGE)).toMatchObject({ status: 405 }); // MESSAGE is not one of the broker's
  });

  it('3.1.1.12 an unusual reason phrase (UTF-8, symbols) is kept', () => {
    const reason =
      '= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435';
    const msg = response(
      wire([
        `SIP/2.0 200 ${reason}`,
        'Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923',
        'Call-ID: unreason.1234ksdfak3j2erwedfsASdf',
        'CSeq: 35 INVITE',
        'From: sip:user@example.com;tag=11141343',
        'To: sip:user@example.edu;tag=2229',
        'Content-Length: 0',
        'Contact: <sip:user@host198.example.com>',
      ]),
    );
    expect([msg.status, msg.reason]).toEqual([200, reason]);
  });

  it('3.1.1.13 an empty reason phrase', () => {
    for (const statusLine of ['SIP/2.0 100 ', 'SIP/2.0 100']) {
      const msg = response(
        wire([
          statusLine,
          'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe',
          'Call-ID: noreason.asndj203insdf99223ndf',
          'CSeq: 35 INVITE',
          'From: <sip:user@example.com>;tag=39ansfi3',
          'To: <sip:user@example.edu>;tag=902jndnke3',
          'Content-Length: 0',
        ]),
      );
      expect([msg.status, msg.reason]).toEqual([100, '']);
    }
  });
});

/** Headers of a routable request, for the invalid ones that change a single thing. */
const base = (method: string, overrides: Record<string, string | null> = {}): string[] => {
  const fields: Record<string, string | null> = {
    Via: 'SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKtorture',
    'Max-Forwards': '70',
    From: '<sip:caller@example.net>;tag=134161461246',
    To: '<sip:j.user@example.com>',
    'Call-ID': `${method.toLowerCase()}.torture@192.0.2.15`,
    CSeq: `8 ${method}`,
    Contact: '<sip:caller@192.0.2.15>',
    ...overrides,
  };
  return Object.entries(fields).flatMap(([name, value]) => (value === null ? [] : [`${name}: ${value}`]));
};

describe('RFC 4475 §3.1.2 invalid messages', () => {
  it('3.1.2.1 extraneous ; and , separators in From, Via and Contact: 400', () => {
    const err = parseFailure(
      wire([
        'INVITE sip:user@example.com SIP/2.0',
        'To: sip:j.user@example.com',
        'From: sip:caller@example.net;;tag=134161461246',
        'Max-Forwards: 7',
        'Call-ID: badinv01.0ha0isndaksdjasdf3234nas',
        'CSeq: 8 INVITE',
        'Via: SIP/2.0/UDP 192.0.2.15;;,;,,',
        'Contact: "Joe" <sip:joe@example.org>;;;;',
        'Content-Length: 0',
      ]),
    );
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/Via|From/);
  });

  it('3.1.2.2 Content-Length larger than the datagram: 400', () => {
    const err = parseFailure(
      wire(
        [
          'INVITE sip:user@example.com SIP/2.0',
          ...base('INVITE'),
          'Content-Type: application/sdp',
          'Content-Length: 9999',
        ],
        sdp,
      ),
    );
    expect(err.status).toBe(400);
    expect(err.message).toContain('Content-Length');
  });

  it('3.1.2.3 negative Content-Length: 400', () => {
    const err = parseFailure(
      wire(
        [
          'INVITE sip:user@example.com SIP/2.0',
          ...base('INVITE'),
          'Content-Type: application/sdp',
          'Content-Length: -999',
        ],
        sdp,
      ),
    );
    expect([err.status, err.message]).toEqual([400, 'Invalid Content-Length header']);
  });

  it('3.1.2.4 request scalars beyond their range (CSeq, Max-Forwards, Expires): 400 for the CSeq', () => {
    const err = parseFailure(
      wire([
        'REGISTER sip:example.com SIP/2.0',
        ...base('REGISTER', {
          CSeq: '36893488147419103232 REGISTER',
          'Max-Forwards': '300',
          Contact: '<sip:user@host129.example.com>;expires=280297596632815',
        }),
        'Expires: 10000000000000',
        'Content-Length: 0',
      ]),
    );
    expect(err.status).toBe(400);
    expect(err.message).toContain('CSeq');
    // Each of the others alone is refused by validation, naming its header.
    const only = (o: Record<string, string>, extra: string[] = []) =>
      validateRequest(
        request(
          wire(['REGISTER sip:example.com SIP/2.0', ...base('REGISTER', o), ...extra, 'Content-Length: 0']),
        ),
        REGISTRAR,
      );
    expect(only({ 'Max-Forwards': '300' })?.reason).toContain('Max-Forwards');
    expect(only({}, ['Expires: 10000000000000'])?.reason).toContain('Expires');
    expect(only({ Contact: '<sip:user@host129.example.com>;expires=280297596632815' })?.reason).toContain(
      'expires',
    );
  });

  it('3.1.2.5 response scalars beyond their range: the response does not parse (and is dropped)', () => {
    const err = parseFailure(
      wire([
        'SIP/2.0 503 Service Unavailable',
        'Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129',
        'To: <sip:user@example.com>',
        'From: <sip:other@example.net>;tag=2easdjfejw',
        'CSeq: 9292394834772304023312 OPTIONS',
        'Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r',
        'Retry-After: 949302838503028349304023988',
        'Warning: 1812 overture "In Progress"',
        'Content-Length: 0',
      ]),
    );
    expect(err.status).toBe(400);
    expect(err.partial?.kind).toBe('response'); // the transaction layer answers only requests
  });

  it('3.1.2.6 unterminated quoted display name: 400', () => {
    const err = parseFailure(
      wire([
        'INVITE sip:user@example.com SIP/2.0',
        ...base('INVITE', { To: '"Mr. J. User <sip:j.user@example.com>' }),
        'Content-Length: 0',
      ]),
    );
    expect(err.status).toBe(400);
    expect(err.message).toContain('To');
  });

  it('3.1.2.7 <> around the Request-URI: 400', () => {
    const err = parseFailure(
      wire(['INVITE <sip:user@example.com> SIP/2.0', ...base('INVITE'), 'Content-Length: 0']),
    );
    expect(err.status).toBe(400);
    expect(err.message).toContain('Request-URI');
  });

  it('3.1.2.8 LWS inside the Request-URI: 400', () => {
    const err = parseFailure(
      wire(['INVITE sip:user@example.com; lr SIP/2.0', ...base('INVITE'), 'Content-Length: 0']),
    );
    expect([err.status, err.message]).toEqual([
      400,
      'Malformed Request-Line: INVITE sip:user@example.com; lr SIP/2.0',
    ]);
  });

  it('3.1.2.9 several SPs between Request-Line elements: 400', () => {
    expect(
      parseFailure(wire(['INVITE  sip:user@example.com  SIP/2.0', ...base('INVITE'), 'Content-Length: 0']))
        .status,
    ).toBe(400);
  });

  it('3.1.2.10 SPs after the SIP version: 400', () => {
    const err = parseFailure(
      wire(['OPTIONS sip:remote-target@example.com SIP/2.0  ', ...base('OPTIONS'), 'Content-Length: 0']),
    );
    expect(err.status).toBe(400);
    expect(err.message).toContain('Request-Line');
  });

  it('3.1.2.11 escaped headers in the Request-URI: parsed, then 400 from validation', () => {
    const msg = request(
      wire([
        'INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0',
        ...base('INVITE'),
        'Content-Length: 0',
      ]),
    );
    expect(validateRequest(msg, EDGE)).toMatchObject({
      status: 400,
      reason: 'Request-URI must not carry headers',
    });
  });

  it('3.1.2.12 a Date not in GMT: 400 naming Date', () => {
    const msg = request(
      wire([
        'INVITE sip:user@example.com SIP/2.0',
        ...base('INVITE'),
        'Date: Fri, 01 Jan 2010 16:00:00 EST',
        'Content-Length: 0',
      ]),
    );
    expect(validateRequest(msg, EDGE)).toMatchObject({
      status: 400,
      reason: 'Malformed Date: Fri, 01 Jan 2010 16:00:00 EST',
    });
  });

  it('3.1.2.13 a Contact addr-spec with headers but no <>: 400', () => {
    const msg = request(
      wire([
        'REGISTER sip:example.com SIP/2.0',
        ...base('REGISTER', { Contact: 'sip:user@example.com?Route=%3Csip:sip.example.com%3E' }),
        'Content-Length: 0',
      ]),
    );
    const refusal = validateRequest(msg, REGISTRAR);
    expect(refusal?.status).toBe(400);
    expect(refusal?.reason).toContain('Contact');
  });

  it('3.1.2.14 spaces inside the <> of an address: 400', () => {
    const err = parseFailure(
      wire([
        'OPTIONS sip:user@example.org SIP/2.0',
        ...base('OPTIONS', { To: '"Watson, Thomas" < sip:t.watson@example.org >' }),
        'Content-Length: 0',
      ]),
    );
    expect(err.status).toBe(400);
    expect(err.message).toContain('To');
  });

  it('3.1.2.15 a comma in an unquoted display name: 400', () => {
    const err = parseFailure(
      wire([
        'OPTIONS sip:t.watson@example.org SIP/2.0',
        ...base('OPTIONS', { From: 'Bell, Alexander <sip:a.g.bell@example.com>;tag=43' }),
        'Content-Length: 0',
      ]),
    );
    expect(err.status).toBe(400);
    expect(err.message).toContain('From');
  });

  it('3.1.2.16 an unknown protocol version: 505, with a routable partial', () => {
    const err = parseFailure(
      wire(['OPTIONS sip:t.watson@example.org SIP/7.0', ...base('OPTIONS'), 'Content-Length: 0']),
    );
    expect(err.status).toBe(505);
    expect(err.partial?.headers?.some((h) => h.name === 'Via')).toBe(true);
  });

  it('3.1.2.17 CSeq method not matching the Request-Line: 400', () => {
    const err = parseFailure(
      wire([
        'OPTIONS sip:user@example.com SIP/2.0',
        ...base('OPTIONS', { CSeq: '8 INVITE' }),
        'Content-Length: 0',
      ]),
    );
    expect([err.status, err.message]).toEqual([400, 'CSeq method INVITE does not match OPTIONS']);
  });

  it('3.1.2.18 unknown method with a mismatched CSeq: 400 (the RFC accepts 400 as well as 501)', () => {
    const err = parseFailure(
      wire([
        'NEWMETHOD sip:user@example.com SIP/2.0',
        ...base('NEWMETHOD', { CSeq: '8 INVITE' }),
        'Content-Length: 0',
      ]),
    );
    expect(err.status).toBe(400);
  });

  it('3.1.2.19 an overlarge status code: the response does not parse', () => {
    const err = parseFailure(
      wire([
        'SIP/2.0 4294967301 better not break the receiver',
        'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe',
        'Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i',
        'CSeq: 353494 INVITE',
        'From: <sip:user@example.com>;tag=39ansfi3',
        'To: <sip:user@example.edu>;tag=902jndnke3',
        'Content-Length: 0',
      ]),
    );
    expect(err.status).toBe(400);
  });
});

describe('RFC 4475 §3.2 transaction layer', () => {
  it('3.2.1 a branch that is only the magic cookie is matched the RFC 2543 way', () => {
    const make = (cseq: number) =>
      request(
        wire([
          'OPTIONS sip:user@example.com SIP/2.0',
          ...base('OPTIONS', { Via: 'SIP/2.0/UDP 192.0.2.15;branch=z9hG4bK', CSeq: `${cseq} OPTIONS` }),
          'Content-Length: 0',
        ]),
      );
    const [a, b] = [make(1), make(2)];
    expect(serverTransactionKey(a)).toMatch(/^2543\|/);
    expect(serverTransactionKey(a)).not.toBe(serverTransactionKey(b));
    expect(validateRequest(a, EDGE)).toBeUndefined();
  });
});

describe('RFC 4475 §3.3 application layer', () => {
  it('3.3.1 missing Call-ID, From and To: 400 naming the first', () => {
    const err = parseFailure(
      wire(
        [
          'INVITE sip:user@example.com SIP/2.0',
          'CSeq: 193942 INVITE',
          'Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf',
          'Content-Type: application/sdp',
          `l: ${sdp.length}`,
        ],
        sdp,
      ),
    );
    expect([err.status, err.message]).toEqual([400, 'Missing From header']);
  });

  it('3.3.2 an unknown Request-URI scheme: 416', () => {
    expect(
      parseFailure(
        wire([
          'OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0',
          ...base('OPTIONS'),
          'Content-Length: 0',
        ]),
      ).status,
    ).toBe(416);
  });

  it('3.3.3 a known but atypical scheme (soap.beep): 416', () => {
    expect(
      parseFailure(
        wire(['OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0', ...base('OPTIONS'), 'Content-Length: 0']),
      ).status,
    ).toBe(416);
  });

  it('3.3.4 unknown URI schemes in To, From and Contact are accepted', () => {
    const msg = request(
      wire([
        'REGISTER sip:example.com SIP/2.0',
        ...base('REGISTER', {
          To: 'isbn:2983792873',
          From: '<http://www.example.com>;tag=3234233',
          Contact: '<name:John_Smith>',
        }),
        'Content-Length: 0',
      ]),
    );
    expect(parseNameAddr(getHeader(msg, 'To') ?? '').uri).toBe('isbn:2983792873');
    expect(validateRequest(msg, REGISTRAR)).toBeUndefined();
  });

  it('3.3.5 unknown Require and Proxy-Require: 420 listing what the element plays (UAS or proxy)', () => {
    const msg = request(
      wire([
        'OPTIONS sip:user@example.com SIP/2.0',
        ...base('OPTIONS'),
        'Require: nothingSupportsThis, nothingSupportsThisEither',
        'Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis',
        'Content-Length: 0',
      ]),
    );
    expect(validateRequest(msg, EDGE)).toEqual({
      status: 420,
      reason: 'Bad Extension',
      headers: [{ name: 'Unsupported', value: 'nothingSupportsThis, nothingSupportsThisEither' }],
    });
    expect(validateRequest(msg, { ...EDGE, forwards: true })?.headers[0].value).toBe(
      'nothingSupportsThis, nothingSupportsThisEither, noProxiesSupportThis, norDoAnyProxiesSupportThis',
    );
  });

  it('3.3.6 an unknown Content-Type: 415 with Accept', () => {
    const body = '<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n';
    const msg = request(
      wire(
        [
          'INVITE sip:user@example.com SIP/2.0',
          ...base('INVITE'),
          'Content-Type: application/unknownformat',
          `Content-Length: ${body.length}`,
        ],
        body,
      ),
    );
    expect(validateRequest(msg, EDGE)).toEqual({
      status: 415,
      reason: 'Unsupported Media Type application/unknownformat',
      headers: [{ name: 'Accept', value: 'application/sdp' }],
    });
  });

  it('3.3.7 Authorization with an unknown scheme: a 401 challenge, not a 400', () => {
    const msg = request(
      wire([
        'REGISTER sip:example.com SIP/2.0',
        ...base('REGISTER'),
        'Authorization: NoOneKnowsThisScheme opaque-data=here',
        'Content-Length: 0',
      ]),
    );
    const auth = new DigestAuthenticator({
      realm: 'example.com',
      store: DigestCredentialsStore.parse('u:p', 'example.com'),
      secret: 's',
    });
    expect(auth.authenticate(msg)).toMatchObject({ kind: 'rejected', status: 401 });
  });

  it('3.3.8 several values in single-value headers: 400', () => {
    for (const dup of [
      'Call-ID: second.call-id@192.0.2.15',
      'To: <sip:other@example.com>',
      'From: <sip:other@example.net>;tag=2',
      'CSeq: 9 INVITE',
    ]) {
      const err = parseFailure(
        wire(['INVITE sip:user@example.com SIP/2.0', ...base('INVITE'), dup, 'Content-Length: 0']),
      );
      expect(err.status, dup).toBe(400);
      expect(err.message).toMatch(/^Duplicate /);
    }
  });

  it('3.3.9 two Content-Length headers: 400', () => {
    const err = parseFailure(
      wire(
        [
          'INVITE sip:user@example.com SIP/2.0',
          ...base('INVITE'),
          'Content-Type: application/sdp',
          'Content-Length: 0',
          `Content-Length: ${sdp.length}`,
        ],
        sdp,
      ),
    );
    expect([err.status, err.message]).toEqual([400, 'Duplicate Content-Length header']);
  });

  it('3.3.10 a 200 whose Via names a broadcast received address parses; it is not ours, so it is dropped', () => {
    const msg = response(
      wire([
        'SIP/2.0 200 OK',
        'Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923;received=255.255.255.255',
        'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK3s',
        'Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf',
        'CSeq: 35 INVITE',
        'From: sip:user@example.com;tag=11141343',
        'To: sip:user@example.edu;tag=2229',
        'Content-Length: 0',
      ]),
    );
    expect(parseVia(getHeaders(msg, 'Via')[0]).params.received).toBe('255.255.255.255');
  });

  it('3.3.11 Max-Forwards 0: processed by the broker (a UAS); a forwarding element answers 483 to all but OPTIONS', () => {
    const options = request(
      wire([
        'OPTIONS sip:user@example.com SIP/2.0',
        ...base('OPTIONS', { 'Max-Forwards': '0' }),
        'Content-Length: 0',
      ]),
    );
    const invite = request(
      wire([
        'INVITE sip:user@example.com SIP/2.0',
        ...base('INVITE', { 'Max-Forwards': '0' }),
        'Content-Length: 0',
      ]),
    );
    expect(validateRequest(options, EDGE)).toBeUndefined();
    expect(validateRequest(invite, EDGE)).toBeUndefined();
    expect(validateRequest(options, { ...EDGE, forwards: true })).toBeUndefined();
    expect(validateRequest(invite, { ...EDGE, forwards: true })).toMatchObject({ status: 483 });
  });

  it('3.3.12 a parameter after an addr-spec Contact belongs to the header', () => {
    const msg = request(
      wire([
        'REGISTER sip:example.com SIP/2.0',
        ...base('REGISTER', { Contact: 'sip:+19725552222@gw1.example.net;unknownparam' }),
        'Content-Length: 0',
      ]),
    );
    const list = parseContacts(getHeaders(msg, 'Contact'));
    expect(list).toEqual({
      wildcard: false,
      contacts: [{ uri: 'sip:+19725552222@gw1.example.net', params: { unknownparam: null } }],
    });
    expect(validateRequest(msg, REGISTRAR)).toBeUndefined();
  });

  it('3.3.13 a parameter inside <> belongs to the URI', () => {
    const msg = request(
      wire([
        'REGISTER sip:example.com SIP/2.0',
        ...base('REGISTER', { Contact: '<sip:+19725552222@gw1.example.net;unknownparam>' }),
        'Content-Length: 0',
      ]),
    );
    expect(parseContacts(getHeaders(msg, 'Contact'))).toEqual({
      wildcard: false,
      contacts: [{ uri: 'sip:+19725552222@gw1.example.net;unknownparam', params: {} }],
    });
  });

  it('3.3.14 an escaped header inside a bracketed Contact URI is valid', () => {
    const msg = request(
      wire([
        'REGISTER sip:example.com SIP/2.0',
        ...base('REGISTER', { Contact: '<sip:user@example.com?Route=%3Csip:sip.example.com%3E>' }),
        'Content-Length: 0',
      ]),
    );
    const list = parseContacts(getHeaders(msg, 'Contact'));
    if (list.wildcard) throw new Error('unexpected wildcard');
    expect(parseUri(list.contacts[0].uri).headers).toEqual({ Route: '%3Csip:sip.example.com%3E' });
    expect(validateRequest(msg, REGISTRAR)).toBeUndefined();
  });

  it('3.3.15 an INVITE whose Accept rules out SDP: 406 (the answer could not be sent)', () => {
    const msg = request(
      wire(
        [
          'INVITE sip:user@example.com SIP/2.0',
          ...base('INVITE'),
          'Accept: text/nobodyKnowsThis',
          'Content-Type: application/sdp',
          `Content-Length: ${sdp.length}`,
        ],
        sdp,
      ),
    );
    expect(validateRequest(msg, EDGE)).toEqual({
      status: 406,
      reason: 'Not Acceptable',
      headers: [{ name: 'Accept', value: 'application/sdp' }],
    });
    msg.headers = msg.headers.map((h) =>
      h.name === 'Accept' ? { ...h, value: 'text/plain;q=0.5, application/*' } : h,
    );
    expect(validateRequest(msg, EDGE)).toBeUndefined();
  });
});

describe('RFC 4475 §3.4 backward compatibility', () => {
  it('3.4.1 an RFC 2543 INVITE (no branch cookie, no Max-Forwards, no From tag) is accepted', () => {
    const msg = request(
      wire(
        [
          'INVITE sip:UserB@example.com SIP/2.0',
          'Via: SIP/2.0/UDP iftgw.example.com',
          'From: <sip:+13035551111@ift.client.example.net;user=phone>',
          'Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>',
          'To: sip:+16505552222@ss1.example.net;user=phone',
          'Call-ID: inv2543.1717@ift.client.example.com',
          'CSeq: 56 INVITE',
          'Content-Type: application/sdp',
          `Content-Length: ${sdp.length}`,
        ],
        sdp,
      ),
    );
    expect(serverTransactionKey(msg)).toMatch(/^2543\|/);
    expect(validateRequest(msg, EDGE)).toMatchObject({ status: 400, reason: 'Missing Contact header' });
    msg.headers.push({ name: 'Contact', value: '<sip:+13035551111@iftgw.example.com>' });
    expect(validateRequest(msg, EDGE)).toBeUndefined();
  });
});

// Keeps the helper types referenced when a test above is skipped while editing.
export type { SipMessage };
