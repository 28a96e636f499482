// Held-out torture datagrams against the running broker: mutated, truncated and hostile variants of
// SIP messages (not the unit suite's RFC 4475 set) over UDP and TCP. Each gets a sensible answer or is
// dropped, and afterwards the broker still answers OPTIONS and an existing call still works. A second
// broker with digest authentication and a per-source rate limit checks those at the wire.
// SIP is written as text here and checked with regular expressions, independently of packages/sip.
import { createHash, randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { SipPubSubClient } from '@sip-pubsub/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded } from '../support/brokers.js';
import { parseRawResponse, type RawResponse, RawSipSocket, rawRequest, token } from '../support/raw-sip.js';

const offer = (port: number) =>
  [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=text ${port} RTP/AVP 100 98`,
    'a=rtpmap:98 t140/1000',
    'a=rtpmap:100 red/1000',
    'a=fmtp:100 98/98/98',
    'a=recvonly',
    '',
  ].join('\r\n');

const callIdOf = (text: string) => /\r\n(?:Call-ID|i) *: *([^\r\n]+)/i.exec(text)?.[1]?.trim();

/** Deterministic byte mutations of a valid message (xorshift PRNG, fixed seed). */
function mutations(base: Buffer, count: number, seed = 0x5eed1234): Buffer[] {
  let s = seed >>> 0;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const copy = Buffer.from(base);
    const edits = 1 + (next() % 6);
    for (let e = 0; e < edits; e++) {
      const at = next() % copy.length;
      const kind = next() % 4;
      if (kind === 0) copy[at] = next() & 0xff;
      else if (kind === 1) copy[at] = [0x00, 0x0d, 0x0a, 0x3a, 0x3b, 0x2c, 0x22, 0x3c, 0x20][next() % 9];
      else if (kind === 2) copy[at] = 0x30 + (next() % 10);
      else copy[at] = 0xff;
    }
    const cut = next() % 5 === 0 ? next() % copy.length : copy.length;
    out.push(copy.subarray(0, cut));
  }
  return out;
}

/** Sends one message over a fresh TCP connection; resolves with the first response, or null if none came. */
function overTcp(port: number, data: Buffer, waitMs = 3_000): Promise<RawResponse | null> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffer = '';
    const done = (res: RawResponse | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(res);
    };
    const timer = setTimeout(() => done(null), waitMs);
    socket.on('connect', () => socket.write(data));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (;;) {
        buffer = buffer.replace(/^(?:\r\n)+/, ''); // keep-alive pongs (RFC 5626 §4.4.1)
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/\r\nContent-Length: *(\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        const one = buffer.slice(0, end + 4 + length);
        buffer = buffer.slice(one.length);
        if (!/^SIP\/2\.0 1\d\d /.test(one)) return done(parseRawResponse(one));
      }
    });
    socket.on('error', () => done(null));
    socket.on('close', () => done(null));
  });
}

interface Case {
  name: string;
  data: (localPort: number, transport: 'UDP' | 'TCP') => Buffer;
  /** Acceptable final statuses; 'drop' when no response is acceptable. */
  expect: (number | 'drop')[];
  /** Header the answer must carry, e.g. Unsupported for 420. */
  header?: [string, RegExp];
}

function lines(
  localPort: number,
  transport: string,
  method: string,
  uri: string,
  extra: string[],
  opts: { cseqMethod?: string; body?: string; contentLength?: string; version?: string } = {},
): string[] {
  const body = opts.body ?? '';
  return [
    `${method} ${uri} ${opts.version ?? 'SIP/2.0'}`,
    `Via: SIP/2.0/${transport} 127.0.0.1:${localPort};branch=z9hG4bK${token()};rport`,
    'Max-Forwards: 70',
    `From: <sip:torture@127.0.0.1>;tag=${token()}`,
    `To: <${uri.startsWith('sip:') ? uri : 'sip:factory@localhost'}>`,
    `Call-ID: torture-${token(8)}`,
    `CSeq: 1 ${opts.cseqMethod ?? method}`,
    `Contact: <sip:torture@127.0.0.1:${localPort}>`,
    ...extra,
    `Content-Length: ${opts.contentLength ?? Buffer.byteLength(body)}`,
    '',
    body,
  ];
}
const text = (l: string[]) => Buffer.from(l.join('\r\n'));

const CASES: Case[] = [
  {
    name: 'unknown method',
    data: (p, t) => text(lines(p, t, 'BREW', 'sip:factory@localhost', [])),
    expect: [501],
    header: ['allow', /INVITE/],
  },
  {
    name: 'mailto Request-URI',
    data: (p, t) => text(lines(p, t, 'OPTIONS', 'mailto:someone@example.com', [])),
    expect: [416],
  },
  {
    name: 'unknown Require',
    data: (p, t) => text(lines(p, t, 'OPTIONS', 'sip:factory@localhost', ['Require: teleport, replaces'])),
    expect: [420],
    header: ['unsupported', /^teleport$/],
  },
  {
    name: 'SIP/3.0',
    data: (p, t) => text(lines(p, t, 'OPTIONS', 'sip:factory@localhost', [], { version: 'SIP/3.0' })),
    expect: [505],
  },
  {
    name: 'CSeq method mismatch',
    data: (p, t) => text(lines(p, t, 'OPTIONS', 'sip:factory@localhost', [], { cseqMethod: 'BYE' })),
    expect: [400],
  },
  {
    name: 'Expires beyond 32 bits on SUBSCRIBE',
    data: (p, t) =>
      text(
        lines(p, t, 'SUBSCRIBE', 'sip:factory@localhost', [
          'Event: pubsub-conferences',
          'Expires: 99999999999',
        ]),
      ),
    expect: [400],
  },
  {
    name: 'SUBSCRIBE without Event',
    data: (p, t) => text(lines(p, t, 'SUBSCRIBE', 'sip:factory@localhost', [])),
    expect: [400],
  },
  {
    name: 'INVITE without Contact',
    data: (p, t) =>
      text(
        lines(p, t, 'INVITE', 'sip:factory@localhost', ['Subject: x']).filter(
          (l) => !l.startsWith('Contact:'),
        ),
      ),
    expect: [400],
  },
  {
    name: 'INVITE with a non-SDP body',
    data: (p, t) =>
      text(
        lines(p, t, 'INVITE', 'sip:factory@localhost', ['Subject: x', 'Content-Type: text/html'], {
          body: '<b>hi</b>',
        }),
      ),
    expect: [415],
  },
  {
    name: 'INVITE that accepts no SDP',
    data: (p, t) => text(lines(p, t, 'INVITE', 'sip:factory@localhost', ['Subject: x', 'Accept: image/png'])),
    expect: [406],
  },
  {
    name: 'duplicate To',
    data: (p, t) => text(lines(p, t, 'OPTIONS', 'sip:factory@localhost', ['To: <sip:other@localhost>'])),
    expect: [400],
  },
  {
    name: 'negative Content-Length',
    data: (p, t) => text(lines(p, t, 'OPTIONS', 'sip:factory@localhost', [], { contentLength: '-3' })),
    expect: [400],
  },
  {
    name: 'Max-Forwards 0 OPTIONS (the broker is the UAS)',
    data: (p, t) =>
      text(
        lines(p, t, 'OPTIONS', 'sip:factory@localhost', []).map((l) =>
          l.startsWith('Max-Forwards') ? 'Max-Forwards: 0' : l,
        ),
      ),
    expect: [200],
  },
  {
    name: 'compact and folded headers',
    data: (p, t) =>
      text(
        lines(p, t, 'OPTIONS', 'sip:factory@localhost', []).map((l) =>
          l.replace(/^From:/, 'f:').replace(/^CSeq: 1 OPTIONS$/, 'cseq: 1\r\n  OPTIONS'),
        ),
      ),
    expect: [200],
  },
  {
    name: 'Request-URI with headers',
    data: (p, t) => text(lines(p, t, 'OPTIONS', 'sip:factory@localhost?Subject=x', [])),
    expect: [400],
  },
  {
    name: 'CANCEL matching nothing',
    data: (p, t) => text(lines(p, t, 'CANCEL', 'sip:factory@localhost', [])),
    expect: [481],
  },
  {
    name: 'NUL inside a header',
    data: (p, t) =>
      Buffer.from(lines(p, t, 'OPTIONS', 'sip:factory@localhost', ['Subject: a\u0000b']).join('\r\n')),
    expect: [400, 'drop'],
  },
  {
    name: 'truncated inside the headers',
    data: (p, t) => text(lines(p, t, 'OPTIONS', 'sip:factory@localhost', [])).subarray(0, 120),
    expect: [400, 'drop'],
  },
  {
    name: 'body shorter than Content-Length',
    data: (p, t) =>
      text(
        lines(p, t, 'INVITE', 'sip:factory@localhost', ['Subject: x', 'Content-Type: application/sdp'], {
          body: 'v=0\r\n',
          contentLength: '400',
        }),
      ),
    expect: [400, 'drop'],
  },
  {
    name: 'no Via at all',
    data: (p, t) =>
      text(lines(p, t, 'OPTIONS', 'sip:factory@localhost', []).filter((l) => !l.startsWith('Via:'))),
    expect: ['drop'],
  },
  {
    name: 'Via with an impossible port',
    data: (p, t) =>
      text(
        lines(p, t, 'OPTIONS', 'sip:factory@localhost', []).map((l) =>
          l.replace(/^Via: (\S+) 127\.0\.0\.1:\d+/, 'Via: $1 127.0.0.1:99999'),
        ),
      ),
    expect: ['drop'],
  },
  {
    name: 'malformed ACK',
    data: (p, t) => text(lines(p, t, 'ACK', 'sip:factory@localhost', [], { cseqMethod: 'INVITE' })),
    expect: ['drop'],
  },
  {
    name: 'a stray response',
    data: (p, t) =>
      Buffer.from(
        `SIP/2.0 200 OK\r\nVia: SIP/2.0/${t} 127.0.0.1:${p};branch=z9hG4bKstray\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: stray-${token()}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
      ),
    expect: ['drop'],
  },
  { name: 'random bytes', data: () => randomBytes(300), expect: ['drop'] },
  { name: 'only CRLFs', data: () => Buffer.from('\r\n\r\n\r\n\r\n'), expect: ['drop'] },
];

describe('held-out torture datagrams against the embedded broker', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startEmbedded({ SIP_MAX_MESSAGE_SIZE: '4096' });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('answers each sensibly or drops it, over UDP and TCP, and keeps an existing call working', async () => {
    const sip = await RawSipSocket.open();
    const port = broker.sipPort;
    try {
      // A call that must survive: create a topic, join it, ACK.
      const topic = `torture/${token(3)}`;
      const redirect = await sip.request(
        rawRequest({
          method: 'INVITE',
          uri: 'sip:factory@localhost',
          localPort: sip.port,
          headers: [`Subject: ${topic}`],
        }),
        port,
      );
      expect(redirect.status).toBe(302);
      const confUri = /<([^>]+)>/.exec(redirect.headers.get('contact')![0])![1];
      const callId = token(10);
      const fromTag = token();
      const ok = await sip.request(
        rawRequest({
          method: 'INVITE',
          uri: confUri,
          localPort: sip.port,
          callId,
          fromTag,
          user: 'survivor',
          headers: ['Content-Type: application/sdp'],
          body: offer(40_000),
        }),
        port,
      );
      expect(ok.status, ok.raw).toBe(200);
      const toTag = /;tag=([^;>\s]+)/.exec(ok.headers.get('to')![0])![1];
      sip.send(
        rawRequest({
          method: 'ACK',
          uri: confUri,
          localPort: sip.port,
          callId,
          fromTag,
          toTag,
          user: 'survivor',
        }),
        port,
      );

      // UDP: every case, then a sentinel OPTIONS; drops are judged once the sentinel is answered.
      const sent = CASES.map((c) => ({ c, data: c.data(sip.port, 'UDP') }));
      for (const { data } of sent) sip.send(data, port);
      const oversize = text(
        lines(sip.port, 'UDP', 'OPTIONS', 'sip:factory@localhost', [`X-Padding: ${'p'.repeat(6000)}`]),
      );
      sip.send(oversize, port);
      const big = await sip.next((m) => m.includes(`Call-ID: ${callIdOf(oversize.toString())}`));
      expect(parseRawResponse(big).status).toBe(513);
      for (const { c, data } of sent) {
        const id = callIdOf(data.toString('utf8'));
        const wantsAnswer = c.expect.some((e) => e !== 'drop');
        if (!wantsAnswer || id === undefined) continue;
        const mayDrop = c.expect.includes('drop');
        const got = await sip
          .next(
            (m) => /^SIP\/2\.0 [2-6]\d\d /.test(m) && m.includes(`Call-ID: ${id}`),
            mayDrop ? 1_000 : 5_000,
          )
          .catch(() => null);
        if (got === null) {
          expect(mayDrop, `${c.name}: no answer over UDP`).toBe(true);
          continue;
        }
        const res = parseRawResponse(got);
        expect(c.expect, `${c.name} over UDP answered ${res.status} ${res.reason}`).toContain(res.status);
        if (c.header) expect(res.headers.get(c.header[0])?.[0] ?? '', c.name).toMatch(c.header[1]);
      }
      const sentinel = await sip.request(
        rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: sip.port }),
        port,
      );
      expect(sentinel.status).toBe(200);
      for (const { c, data } of sent) {
        if (!c.expect.every((e) => e === 'drop')) continue;
        const id = callIdOf(data.toString('utf8'));
        const leaked = await sip
          .next((m) => id !== undefined && /^SIP\/2\.0 [2-6]\d\d /.test(m) && m.includes(`Call-ID: ${id}`), 1)
          .catch(() => null);
        expect(leaked, `${c.name} should be dropped`).toBeNull();
      }

      // 300 seeded mutations of a valid OPTIONS: whatever they get, the broker must keep answering.
      const valid = text(lines(sip.port, 'UDP', 'OPTIONS', 'sip:factory@localhost', ['Subject: fuzz']));
      for (const m of mutations(valid, 300)) sip.send(m, port);

      // TCP: the same cases, one connection each.
      for (const c of CASES) {
        const res = await overTcp(port, c.data(0, 'TCP'), c.expect.every((e) => e === 'drop') ? 500 : 3_000);
        if (res === null) {
          expect(c.expect, `${c.name}: no answer over TCP`).toContain('drop');
          continue;
        }
        expect(c.expect, `${c.name} over TCP answered ${res.status} ${res.reason}`).toContain(res.status);
      }

      // Still alive: OPTIONS over both transports, and the call from the start ends normally.
      expect(
        (await sip.request(rawRequest({ method: 'OPTIONS', uri: confUri, localPort: sip.port }), port))
          .status,
      ).toBe(200);
      expect(
        (
          await overTcp(
            port,
            Buffer.from(
              rawRequest({ method: 'OPTIONS', uri: confUri, localPort: 0 }).replace(
                'SIP/2.0/UDP',
                'SIP/2.0/TCP',
              ),
            ),
          )
        )?.status,
      ).toBe(200);
      const bye = await sip.request(
        rawRequest({
          method: 'BYE',
          uri: confUri,
          localPort: sip.port,
          callId,
          fromTag,
          toTag,
          cseq: 2,
          user: 'survivor',
        }),
        port,
      );
      expect(bye.status, bye.raw).toBe(200);
    } finally {
      sip.close();
    }
  }, 120_000);

  it('a merged request (same From tag, Call-ID and CSeq, another branch) gets 482', async () => {
    const sip = await RawSipSocket.open();
    try {
      const first = rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: sip.port });
      expect((await sip.request(first, broker.sipPort)).status).toBe(200);
      const copy = first.replace(/branch=z9hG4bK[^;]+/, `branch=z9hG4bK${token()}`);
      const merged = await sip.request(copy, broker.sipPort);
      expect([merged.status, merged.reason]).toEqual([482, 'Loop Detected']);
    } finally {
      sip.close();
    }
  });
});

/** A UDP socket bound to another loopback address, to be a different source for the rate limiter. */
async function socketOn(host: string): Promise<{ socket: dgram.Socket; port: number; inbox: string[] }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  const inbox: string[] = [];
  socket.on('message', (m) => inbox.push(m.toString('utf8')));
  return { socket, port: socket.address().port, inbox };
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe('digest authentication and per-source rate limit at the wire', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startEmbedded({
      AUTH_REALM: 'pubsub.test',
      AUTH_CREDENTIALS: 'alice:wonderland,bob:builder',
      SIP_RATE_PER_SOURCE: '5:20',
    });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('challenges, accepts a correct MD5 answer, refuses its replay; OPTIONS is not challenged', async () => {
    const sip = await RawSipSocket.open();
    try {
      expect(
        (
          await sip.request(
            rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: sip.port }),
            broker.sipPort,
          )
        ).status,
      ).toBe(200);
      const topic = `auth/${token(3)}`;
      const challenge = await sip.request(
        rawRequest({
          method: 'INVITE',
          uri: 'sip:factory@localhost',
          localPort: sip.port,
          user: 'alice',
          headers: [`Subject: ${topic}`],
        }),
        broker.sipPort,
      );
      expect(challenge.status).toBe(401);
      const offers = challenge.headers.get('www-authenticate') ?? [];
      expect(offers.map((o) => /algorithm=([\w-]+)/.exec(o)?.[1])).toEqual(['SHA-256', 'MD5']);
      const md5Offer = offers[1];
      const nonce = /nonce="([^"]+)"/.exec(md5Offer)![1];
      expect(md5Offer).toMatch(/qop="auth"/);
      const uri = 'sip:factory@localhost';
      const cnonce = token();
      const response = md5(
        `${md5(`alice:pubsub.test:wonderland`)}:${nonce}:00000001:${cnonce}:auth:${md5(`INVITE:${uri}`)}`,
      );
      const authorization = `Authorization: Digest username="alice", realm="pubsub.test", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, cnonce="${cnonce}", qop=auth, nc=00000001`;
      const callId = token(10);
      const retry = rawRequest({
        method: 'INVITE',
        uri,
        localPort: sip.port,
        user: 'alice', // with authentication on, From names the authenticated user
        callId,
        cseq: 2,
        headers: [`Subject: ${topic}`, authorization],
      });
      const redirect = await sip.request(retry, broker.sipPort);
      expect(redirect.status, redirect.raw).toBe(302);
      const replay = rawRequest({
        method: 'INVITE',
        uri,
        localPort: sip.port,
        user: 'alice',
        callId: token(10),
        headers: [`Subject: ${topic}`, authorization],
      });
      expect((await sip.request(replay, broker.sipPort)).status).toBe(401);
      const wrong = rawRequest({
        method: 'INVITE',
        uri,
        localPort: sip.port,
        headers: [
          `Subject: ${topic}`,
          authorization
            .replace(/nc=00000001/, 'nc=00000002')
            .replace(/response="[0-9a-f]+"/, `response="${'0'.repeat(32)}"`),
        ],
      });
      expect((await sip.request(wrong, broker.sipPort)).status).toBe(401);
    } finally {
      sip.close();
    }
  });

  it('the SDK with credentials answers challenges: join, publish, receive, leave; without them it is refused', async () => {
    const server = `127.0.0.1:${broker.sipPort}`;
    const topic = `auth-sdk/${token(3)}`;
    const credentials = { username: 'bob', password: 'builder' };
    const subClient = await SipPubSubClient.connect({
      server,
      user: 'bob', // with authentication on, From names the authenticated user
      localHost: '127.0.0.3',
      credentials,
      requestTimeoutMs: 8_000,
    });
    const pubClient = await SipPubSubClient.connect({
      server,
      user: 'bob',
      localHost: '127.0.0.4',
      credentials,
      requestTimeoutMs: 8_000,
    });
    const stranger = await SipPubSubClient.connect({
      server,
      user: 'mallory',
      localHost: '127.0.0.5',
      requestTimeoutMs: 8_000,
    });
    try {
      const subscriber = await subClient.subscriber(topic);
      const values: number[] = [];
      subscriber.on('pack', (pack: { v?: unknown }[]) => {
        for (const r of pack) if (typeof r.v === 'number') values.push(r.v);
      });
      const publisher = await pubClient.publisher(topic);
      await publisher.publish([{ n: 'temp', v: 21.5 }]);
      for (let i = 0; i < 100 && values.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(values).toEqual([21.5]);
      await publisher.close();
      await subscriber.close();
      await expect(stranger.resolveTopic(topic)).rejects.toThrow(/401/);
    } finally {
      await Promise.all([subClient, pubClient, stranger].map((c) => c.close().catch(() => undefined)));
    }
  });

  it('a flooding source gets 503 with Retry-After while another source is served', async () => {
    const flood = await socketOn('127.0.0.2');
    const calm = await RawSipSocket.open();
    try {
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) {
        const id = `flood-${i}-${token()}`;
        ids.push(id);
        const req = rawRequest({
          method: 'OPTIONS',
          uri: 'sip:factory@localhost',
          localPort: flood.port,
          callId: id,
        }).replace('127.0.0.1:', '127.0.0.2:');
        flood.socket.send(Buffer.from(req), broker.sipPort, '127.0.0.1');
      }
      expect(
        (
          await calm.request(
            rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: calm.port }),
            broker.sipPort,
          )
        ).status,
      ).toBe(200);
      for (let i = 0; i < 100 && flood.inbox.filter((m) => /^SIP\/2\.0 [2-6]/.test(m)).length < 40; i++)
        await new Promise((r) => setTimeout(r, 50));
      const statuses = flood.inbox.filter((m) => /^SIP\/2\.0 [2-6]/.test(m)).map(parseRawResponse);
      expect(statuses).toHaveLength(60);
      const refused = statuses.filter((r) => r.status === 503);
      expect(refused.length).toBeGreaterThanOrEqual(15); // burst 20, refill 5/s: 40 unless handling took seconds
      expect(refused.every((r) => /^\d+$/.test(r.headers.get('retry-after')?.[0] ?? ''))).toBe(true);
      expect(statuses.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(20);
    } finally {
      flood.socket.close();
      calm.close();
    }
  });
});
