// Issue 7 defect 8, edge side: inputs that the edge let through to an owner, which then failed with 500.
// Each must get the narrowest 4xx/5xx with a reason, over UDP and over TCP, and leave the broker serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive, type RunningBroker, startEmbedded } from '../support/brokers.js';
import { type RawResponse, RawSipSocket, rawRequest } from '../support/raw-sip.js';
import { createTopic, tcpOptions, tcpRequest, textOffer } from './raw-peers.js';

type Transport = 'udp' | 'tcp';

let broker: RunningBroker;
let sip: RawSipSocket;
let confUri: string;

beforeAll(async () => {
  broker = await startEmbedded();
  sip = await RawSipSocket.open();
  confUri = await createTopic(sip, broker.sipPort, 'chaos/bad-input');
});
afterAll(async () => {
  sip?.close();
  await broker?.stop();
});

/** Sends a request built for a local port, over UDP (our socket) or a fresh TCP connection. */
async function send(transport: Transport, build: (localPort: number) => string): Promise<RawResponse> {
  if (transport === 'udp') return sip.request(build(sip.port), broker.sipPort);
  return tcpRequest(broker.sipPort, (localPort) => build(localPort).replace('SIP/2.0/UDP', 'SIP/2.0/TCP'));
}

const subscribe = (localPort: number, uri = 'sip:factory@localhost') =>
  rawRequest({
    method: 'SUBSCRIBE',
    uri,
    localPort,
    headers: ['Event: pubsub-conferences', 'Expires: 60', 'Accept: application/pubsub-conferences+json'],
  });

const cases: Array<{ name: string; build: (localPort: number) => string; status: number; reason: RegExp }> = [
  {
    name: 'SUBSCRIBE with Contact: ,,,',
    build: (p) => subscribe(p).replace(/\r\nContact: [^\r]+/, '\r\nContact: ,,,'),
    status: 400,
    reason: /Contact/,
  },
  {
    name: 'join INVITE with Contact: ,,,',
    build: (p) =>
      rawRequest({
        method: 'INVITE',
        uri: confUri,
        localPort: p,
        headers: ['Content-Type: application/sdp'],
        body: textOffer('recvonly', 9),
      }).replace(/\r\nContact: [^\r]+/, '\r\nContact: ,,,'),
    status: 400,
    reason: /Contact/,
  },
  {
    name: 'SUBSCRIBE without a From tag',
    build: (p) => subscribe(p).replace(/(\r\nFrom: [^\r;]+);tag=[^\r]+/, '$1'),
    status: 400,
    reason: /From tag/,
  },
  {
    name: 'SUBSCRIBE to a conference without Contact',
    build: (p) =>
      subscribe(p, confUri)
        .replace('Event: pubsub-conferences', 'Event: conference')
        .replace(/\r\nContact: [^\r]+/, ''),
    status: 400,
    reason: /Contact/,
  },
];

describe('bad input gets the narrowest 4xx with a reason, not 500', () => {
  for (const transport of ['udp', 'tcp'] as const) {
    for (const c of cases) {
      it(`${transport}: ${c.name} → ${c.status}`, async () => {
        const res = await send(transport, c.build);
        console.log(`[bad-input ${transport}] ${c.name}: ${res.status} ${res.reason}`);
        expect(res.status, res.raw).toBe(c.status);
        expect(res.reason).toMatch(c.reason);
      });
    }
  }

  it('tcp: a 65,530-byte request pushed past 64 KiB by the edge Via stamp → 513, and 65,000 bytes still 200', async () => {
    const sized = (size: number) => (localPort: number) => {
      const base = tcpOptions(localPort, ['X-Padding: PAD']);
      return base.replace('PAD', 'a'.repeat(size - Buffer.byteLength(base) + 3));
    };
    expect(Buffer.byteLength(sized(65_530)(40_000))).toBe(65_530);
    const big = await tcpRequest(broker.sipPort, sized(65_530));
    console.log(`[bad-input tcp] 65530-byte OPTIONS: ${big.status} ${big.reason}`);
    expect(big.status, big.raw).toBe(513);
    expect(big.reason).toMatch(/Too Large.*\d+/);
    const fits = await tcpRequest(broker.sipPort, sized(65_000));
    console.log(`[bad-input tcp] 65000-byte OPTIONS: ${fits.status} ${fits.reason}`);
    expect(fits.status).toBe(200);
  });

  it('the broker is still the same process and answers OPTIONS over UDP and TCP', async () => {
    expect(processAlive(broker.pid)).toBe(true);
    const udp = await sip.request(
      rawRequest({ method: 'OPTIONS', uri: 'sip:factory@localhost', localPort: sip.port }),
      broker.sipPort,
    );
    const tcp = await tcpRequest(broker.sipPort, (p) => tcpOptions(p));
    expect([udp.status, tcp.status]).toEqual([200, 200]);
  });
});
