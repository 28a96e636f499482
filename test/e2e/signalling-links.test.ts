// Signalling with fewer hops (issue 11) against the four services as separate processes with nats-server:
// the first NOTIFY of a SUBSCRIBE comes back to the edge inside the 2xx's answer on the notifier's link
// (the edge sends both, in order), and a join and a SUBSCRIBE cost a number of KV operations that does not
// depend on how many participants the conference has, with no bucket listing on the way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricSum, textOffer } from '../chaos/raw-peers.js';
import { type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';

/** Sum of a metric's samples whose labels contain `label` (e.g. operation="keys"), over a service's page. */
async function labelledSum(httpPort: number, name: string, label: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) && line.includes(label))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

const KV_OPS = 'sip_pubsub_kv_operation_duration_seconds_count';

describe('edge↔owner links, split', () => {
  let broker: RunningBroker;
  let sip: RawSipSocket;
  const port = (name: string) => broker.services!.find((s) => s.name === name)!.httpPort;
  const kv = async () => ({
    focus: await metricSum(port('focus-controller'), KV_OPS),
    notifier: await metricSum(port('notifier'), KV_OPS),
    listings:
      (await labelledSum(port('focus-controller'), KV_OPS, 'operation="keys"')) +
      (await labelledSum(port('notifier'), KV_OPS, 'operation="keys"')),
  });
  const settle = () => new Promise((r) => setTimeout(r, 300));
  const okNotify = (notify: string) => {
    const head = notify
      .split('\r\n\r\n')[0]
      .split('\r\n')
      .filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
    sip.send(['SIP/2.0 200 OK', ...head, 'Content-Length: 0', '', ''].join('\r\n'), broker.sipPort);
  };

  beforeAll(async () => {
    broker = await startSeparateProcesses({ env: { NOTIFY_MIN_INTERVAL_MS: '0', OWNER_LINK: 'stream' } });
    sip = await RawSipSocket.open();
  }, 90_000);
  afterAll(async () => {
    sip?.close();
    await broker?.stop();
  });

  const topic = async () => {
    const redirect = await sip.request(
      rawRequest({
        method: 'INVITE',
        uri: 'sip:factory@localhost',
        localPort: sip.port,
        headers: [`Subject: links/${token(4)}`],
      }),
      broker.sipPort,
    );
    expect(redirect.status).toBe(302);
    return /<([^>]+)>/.exec(redirect.headers.get('contact')?.[0] ?? '')?.[1] ?? '';
  };
  const join = async (confUri: string) => {
    const ok = await sip.request(
      rawRequest({
        method: 'INVITE',
        uri: confUri,
        localPort: sip.port,
        headers: ['Content-Type: application/sdp'],
        body: textOffer('recvonly', 9),
      }),
      broker.sipPort,
    );
    expect(ok.status).toBe(200);
  };
  const subscribe = async (confUri: string) => {
    const callId = token(10);
    const ok = await sip.request(
      rawRequest({
        method: 'SUBSCRIBE',
        uri: confUri,
        localPort: sip.port,
        callId,
        headers: ['Event: conference', 'Expires: 60'],
      }),
      broker.sipPort,
    );
    expect(ok.status).toBe(200);
    const notify = await sip.next((m) => m.startsWith('NOTIFY ') && m.includes(`Call-ID: ${callId}`));
    okNotify(notify);
    return notify;
  };

  it('sends the first NOTIFY the notifier handed over with the SUBSCRIBE 200', async () => {
    const confUri = await topic();
    const edge = port('signalling-edge');
    const before = await labelledSum(edge, 'sip_pubsub_sip_owner_follow_ups_total', 'method="NOTIFY"');
    const notify = await subscribe(confUri);
    expect(notify).toMatch(/\r\nSubscription-State: active/i);
    expect(await labelledSum(edge, 'sip_pubsub_sip_owner_follow_ups_total', 'method="NOTIFY"')).toBe(
      before + 1,
    );
  });

  it('costs the same KV operations per join in a conference of 1 and of 6, and lists no bucket', async () => {
    const cost = async (crowd: number) => {
      const confUri = await topic();
      for (let i = 0; i < crowd; i++) await join(confUri);
      await settle();
      const before = await kv();
      await join(confUri);
      await settle();
      const after = await kv();
      return {
        focus: after.focus - before.focus,
        notifier: after.notifier - before.notifier,
        listings: after.listings - before.listings,
      };
    };
    const small = await cost(1);
    const large = await cost(6);
    expect(small.focus).toBeGreaterThan(0);
    expect(large).toEqual(small);
    expect(small.listings).toBe(0);
  });

  it('costs the same KV operations per SUBSCRIBE and its first NOTIFY in a conference of 1 and of 6', async () => {
    // The roster document comes from the conference's roster index record, whose entries show their
    // participants: no read per participant (before: 10 operations at 1 participant, 29 at 20).
    const cost = async (crowd: number) => {
      const confUri = await topic();
      for (let i = 0; i < crowd; i++) await join(confUri);
      await settle();
      const before = await kv();
      await subscribe(confUri);
      await settle();
      const after = await kv();
      return { focus: after.focus - before.focus, notifier: after.notifier - before.notifier };
    };
    const small = await cost(1);
    const large = await cost(6);
    expect(small.notifier).toBeGreaterThan(0);
    expect(large).toEqual(small);
  });

  it('lists no bucket for a SUBSCRIBE and its first NOTIFY', async () => {
    const confUri = await topic();
    await join(confUri);
    await settle();
    const before = await kv();
    await subscribe(confUri);
    await settle();
    const after = await kv();
    expect(after.notifier).toBeGreaterThan(before.notifier);
    expect(after.listings).toBe(before.listings);
  });
});
