// Issue 7 defect 4(a): a captured Authorization replayed through ANOTHER edge replica. Two edges share
// AUTH_NONCE_SECRET (so each verifies the other's nonces); the nonce-counts they accepted are in KV, so
// the replay is challenged and the victim's next nonce-count still works, through either edge.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { DigestAccount } from '../support/digest.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';

const offer = (port: number, direction: string) =>
  [
    'v=0',
    `o=- ${port} 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=text ${port} RTP/AVP 98`,
    'a=rtpmap:98 t140/1000',
    `a=${direction}`,
    '',
  ].join('\r\n');

const toTagOf = (raw: string) => /\r\nTo:[^\r\n]*;tag=([^;\r\n]+)/i.exec(raw)?.[1] ?? '';

describe('replay of a captured Authorization across edge replicas', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startSeparateProcesses({
      edges: 2,
      env: {
        AUTH_REALM: 'pubsub.test',
        AUTH_CREDENTIALS: 'alice:wonderland,mallory:evil',
        AUTH_NONCE_SECRET: 'chaos-replay-shared-secret',
      },
    });
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('a replayed INVITE is challenged on the other edge; the victim goes on with nc+1', async () => {
    const [edgeA, edgeB] = broker.edgeSipPorts!;
    expect(edgeA).not.toBe(edgeB);
    const alice = await RawSipSocket.open();
    const mallory = await RawSipSocket.open();
    try {
      const account = new DigestAccount('alice', 'wonderland');
      const factory = 'sip:factory@localhost';
      const topic = `replay/${token(3)}`;
      const create = (cseq: number, auth: string[] = []) =>
        rawRequest({
          method: 'INVITE',
          uri: factory,
          localPort: alice.port,
          user: 'alice',
          cseq,
          headers: [`Subject: ${topic}`, ...auth],
        });
      const challenge = await alice.request(create(1), edgeA);
      expect(challenge.status).toBe(401);
      account.challenged(challenge);
      const redirect = await alice.request(create(2, [account.authorization('INVITE', factory)]), edgeA);
      expect(redirect.status, redirect.raw).toBe(302);
      const conf = /<([^>]+)>/.exec(redirect.headers.get('contact')![0])![1];

      // alice joins through edge A: this is the request an attacker captures.
      const callId = token(10);
      const fromTag = token();
      const authorization = account.authorization('INVITE', conf);
      const join = rawRequest({
        method: 'INVITE',
        uri: conf,
        localPort: alice.port,
        user: 'alice',
        callId,
        fromTag,
        cseq: 1,
        headers: ['Content-Type: application/sdp', authorization],
        body: offer(41_000, 'sendonly'),
      });
      const joined = await alice.request(join, edgeA);
      expect(joined.status, joined.raw).toBe(200);
      const toTag = toTagOf(joined.raw);
      alice.send(
        rawRequest({
          method: 'ACK',
          uri: conf,
          localPort: alice.port,
          user: 'alice',
          callId,
          fromTag,
          toTag,
        }),
        edgeA,
      );

      // The replays: a new dialog with a new SDP that would join as alice, and the captured text itself
      // (with a new branch, so it is a new transaction), through edge B and then edge A.
      const replays = [
        { edge: edgeB, name: 'new dialog via B' },
        { edge: edgeB, name: 'verbatim via B' },
        { edge: edgeA, name: 'new dialog via A' },
      ];
      const statuses: Record<string, number> = {};
      for (const replay of replays) {
        const text = replay.name.startsWith('verbatim')
          ? join
              .replace(/branch=z9hG4bK[^;\r\n]+/, `branch=z9hG4bK${token()}`)
              .replace(/127\.0\.0\.1:\d+;branch/, `127.0.0.1:${mallory.port};branch`)
          : rawRequest({
              method: 'INVITE',
              uri: conf,
              localPort: mallory.port,
              user: 'alice',
              headers: ['Content-Type: application/sdp', authorization],
              body: offer(42_000, 'sendrecv'),
            });
        const res = await mallory.request(text, replay.edge);
        statuses[replay.name] = res.status;
      }
      console.log(
        `[chaos/replay] replayed Authorization (nc=2) answered: ${JSON.stringify(statuses)} (before the fix: 'new dialog via B' got 200)`,
      );
      expect(Object.values(statuses).every((s) => s === 401)).toBe(true);

      // alice's next request, nc=3, through the other edge: her BYE ends her own dialog.
      const bye = await alice.request(
        rawRequest({
          method: 'BYE',
          uri: conf,
          localPort: alice.port,
          user: 'alice',
          callId,
          fromTag,
          toTag,
          cseq: 2,
          headers: [account.authorization('BYE', conf)],
        }),
        edgeB,
      );
      console.log(
        `[chaos/replay] alice's BYE with nc=${account.nc} through edge B: ${bye.status} ${bye.reason}`,
      );
      expect(bye.status, bye.raw).toBe(200);
    } finally {
      alice.close();
      mallory.close();
    }
  }, 50_000);
});
