// Scenarios of issue 7 defect 2, "legs that never die", shared by the embedded and split runs: INVITEs to a conference whose 2xx is never ACKed must not keep
// relay ports. Against the embedded broker with 20 relay ports and T1 = 50 ms (64×T1 = 3.2 s): 60 INVITEs
// that are never ACKed take every port; after 64×T1 the focus ends each dialog (BYE), releases the legs
// and the conference watcher sees the participants deleted; joins succeed again. Then a factory + join +
// ACK + BYE loop of a few thousand calls leaves no leg behind. SIP is written as text (test/support/raw-sip).
import { expect } from 'vitest';
import { okTo, RawSipSocket, rawRequest, token } from '../support/raw-sip.js';

export const PORTS = 20;
export const T1_MS = 50;

/** A running broker under test: where to send SIP, and how many legs its relays hold now. */
export interface LegsTarget {
  sipPort: number;
  legs(): Promise<number>;
  label: string;
  /** The broker's captured output, to say why a call failed. */
  logs?: () => string;
}

const offer = (port: number, direction = 'recvonly') =>
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
    `a=${direction}`,
    '',
  ].join('\r\n');

const header = (text: string, name: string) =>
  new RegExp(`\r\n(${name}) *: *([^\r\n]*)`, 'i').exec(text)?.[2];
const toTagOf = (text: string) => /;tag=([^;>\s]+)/.exec(header(text, 'To') ?? '')?.[1];

/** Answers every request the broker sends to `socket` (BYE, NOTIFY) with 200, and hands each to `seen`. */
function answerRequests(socket: RawSipSocket, seen: (text: string) => void = () => {}): void {
  socket.socket.on('message', (msg, rinfo) => {
    const text = msg.toString('utf8');
    if (text.startsWith('SIP/2.0')) return;
    seen(text);
    socket.socket.send(Buffer.from(okTo(text)), rinfo.port, rinfo.address);
  });
}

export async function relayLegs(httpPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  const text = await res.text();
  const m = /^sip_pubsub_relay_legs(?:\{[^}]*\})? (\d+(?:\.\d+)?)$/m.exec(text);
  if (!m) throw new Error('no sip_pubsub_relay_legs gauge in /metrics');
  return Number(m[1]);
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await check()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 100));
  }
  return -1;
}

async function createTopic(sip: RawSipSocket, port: number, topic: string): Promise<string> {
  const invite = rawRequest({
    method: 'INVITE',
    uri: 'sip:factory@localhost',
    localPort: sip.port,
    headers: [`Subject: ${topic}`],
  });
  const redirect = await sip.request(invite, port);
  expect(redirect.status).toBe(302);
  ackNon2xx(sip, port, invite, redirect.raw);
  return /<([^>]+)>/.exec(redirect.headers.get('contact')![0])![1];
}

/** §17.1.1.3: the ACK for a non-2xx final response, in the INVITE's transaction. */
function ackNon2xx(sip: RawSipSocket, port: number, invite: string, response: string): void {
  const line = (text: string, name: string) => new RegExp(`\r\n(${name}: [^\r]*)`).exec(text)![1];
  sip.send(
    [
      `ACK ${invite.split(' ')[1]} SIP/2.0`,
      line(invite, 'Via'),
      'Max-Forwards: 70',
      line(invite, 'From'),
      line(response, 'To'),
      line(invite, 'Call-ID'),
      `CSeq: ${/\r\nCSeq: (\d+)/.exec(invite)![1]} ACK`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    port,
  );
}

/** Watches a conference (RFC 4575): SUBSCRIBE, answer every NOTIFY, keep each user's last state. */
async function watchConference(port: number, conference: string) {
  const sip = await RawSipSocket.open();
  const users = new Map<string, string>();
  const deleted = new Set<string>();
  answerRequests(sip, (text) => {
    if (!text.startsWith('NOTIFY')) return;
    const body = text.split('\r\n\r\n').slice(1).join('\r\n\r\n');
    if (/<conference-info[^>]*state="full"/.test(body)) users.clear();
    for (const m of body.matchAll(/<user\b[^>]*>/g)) {
      const entity = /entity="([^"]+)"/.exec(m[0])?.[1];
      const state = /state="([^"]+)"/.exec(m[0])?.[1] ?? 'full';
      if (!entity) continue;
      users.set(entity, state);
      if (state === 'deleted') deleted.add(entity);
    }
  });
  const res = await sip.request(
    rawRequest({
      method: 'SUBSCRIBE',
      uri: conference,
      localPort: sip.port,
      user: 'watcher',
      headers: ['Event: conference', 'Accept: application/conference-info+xml', 'Expires: 600'],
    }),
    port,
  );
  expect([200, 202]).toContain(res.status);
  return {
    present: () => [...users].filter(([, state]) => state !== 'deleted').map(([entity]) => entity),
    deleted,
    close: () => sip.close(),
  };
}

export async function unackedInvitesScenario(target: LegsTarget): Promise<void> {
  const port = target.sipPort;
  const sip = await RawSipSocket.open();
  // One BYE per dialog: a retransmission (our 200 late on a loaded machine) has the same Call-ID.
  const byeCalls = new Set<string>();
  answerRequests(sip, (text) => {
    if (text.startsWith('BYE')) byeCalls.add(header(text, 'Call-ID') ?? text);
  });
  const topic = `chaos/unacked/${token(3)}`;
  const conference = await createTopic(sip, port, topic);
  const watcher = await watchConference(port, conference);
  try {
    const statuses = new Map<number, number>();
    const joined: string[] = [];
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 3 * PORTS }, async (_, i) => {
        const user = `leaky${i}`;
        // Never ACKed: the 2xx is retransmitted to us and ignored.
        const res = await sip.request(
          rawRequest({
            method: 'INVITE',
            uri: conference,
            localPort: sip.port,
            user,
            headers: ['Content-Type: application/sdp'],
            body: offer(42_000 + 2 * i),
          }),
          port,
          10_000,
        );
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200) joined.push(`sip:${user}@127.0.0.1`);
      }),
    );
    const legsAfterFlood = await target.legs();
    console.log(
      `[unacked ${target.label}] ${3 * PORTS} INVITEs in ${Date.now() - started} ms to a relay with ${PORTS} ports: ` +
        `${[...statuses].map(([s, n]) => `${n}×${s}`).join(', ')}; relay legs in use ${legsAfterFlood}`,
    );
    expect(statuses.get(200)).toBe(PORTS);
    expect(statuses.get(503)).toBe(2 * PORTS);
    expect(legsAfterFlood).toBe(PORTS);

    // 64×T1 after the last 2xx the edge gives up its retransmissions; the dialogs must end soon after.
    const waited = await until(async () => (await target.legs()) === 0, 64 * T1_MS + 10_000);
    const legsAfter = await target.legs();
    console.log(
      `[unacked ${target.label}] relay legs ${legsAfter} at ${waited < 0 ? 'timeout' : `${waited} ms`} after the flood ` +
        `(64×T1 = ${64 * T1_MS} ms); BYEs received ${byeCalls.size} dialogs`,
    );

    // A join now gets a port again.
    const probe = await sip.request(
      rawRequest({
        method: 'INVITE',
        uri: conference,
        localPort: sip.port,
        user: 'latecomer',
        headers: ['Content-Type: application/sdp'],
        body: offer(43_000),
      }),
      port,
    );
    console.log(`[unacked ${target.label}] a join after 64×T1 got ${probe.status} ${probe.reason}`);
    // ACKed at once, so that waiting for the watcher below cannot make it another unACKed dialog.
    const toTag = toTagOf(probe.raw)!;
    const callId = header(probe.raw, 'Call-ID')!;
    const fromTag = /;tag=([^;>\s]+)/.exec(probe.headers.get('from')![0])![1];
    if (probe.status === 200)
      sip.send(
        rawRequest({ method: 'ACK', uri: conference, localPort: sip.port, callId, fromTag, toTag }),
        port,
      );
    const gone = await until(() => joined.every((aor) => watcher.deleted.has(aor)), 10_000);
    console.log(
      `[unacked ${target.label}] watcher saw ${joined.filter((aor) => watcher.deleted.has(aor)).length}/${joined.length} ` +
        `unACKed participants deleted${gone < 0 ? '' : ` (${gone} ms after the probe)`}; still listed: ` +
        `${watcher.present().filter((aor) => aor.startsWith('sip:leaky')).length}`,
    );
    expect(legsAfter).toBe(0);
    expect(byeCalls.size).toBe(PORTS);
    expect(probe.status).toBe(200);
    expect(gone).toBeGreaterThanOrEqual(0);
    expect(watcher.present().filter((aor) => aor.startsWith('sip:leaky'))).toEqual([]);
    // The latecomer ends its own dialog properly: ACKed at once (above), then BYE.
    const bye = await sip.request(
      rawRequest({ method: 'BYE', uri: conference, localPort: sip.port, callId, fromTag, toTag, cseq: 2 }),
      port,
    );
    expect(bye.status).toBe(200);
  } finally {
    watcher.close();
    sip.close();
  }
}

export async function joinByeLoopScenario(target: LegsTarget, opts: { calls?: number } = {}): Promise<void> {
  const port = target.sipPort;
  const WORKERS = 8;
  const CALLS = opts.calls ?? 2_000;
  let next = 0;
  const statuses = new Map<string, number>();
  const count = (what: string) => statuses.set(what, (statuses.get(what) ?? 0) + 1);
  const topics = Array.from({ length: 4 }, () => `chaos/loop/${token(3)}`);
  const started = Date.now();
  const deadline = started + 40_000;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      const sip = await RawSipSocket.open();
      answerRequests(sip);
      try {
        while (next < CALLS && Date.now() < deadline) {
          const i = next++;
          const conference = await createTopic(sip, port, topics[i % topics.length]);
          const callId = token(10);
          const fromTag = token();
          const user = `loop${i}`;
          const ok = await sip.request(
            rawRequest({
              method: 'INVITE',
              uri: conference,
              localPort: sip.port,
              callId,
              fromTag,
              user,
              headers: ['Content-Type: application/sdp'],
              body: offer(44_000 + (i % 1000) * 2, i % 2 ? 'recvonly' : 'sendonly'),
            }),
            port,
            10_000,
          );
          count(`INVITE ${ok.status}`);
          if (ok.status !== 200) continue;
          const toTag = toTagOf(ok.raw);
          sip.send(
            rawRequest({
              method: 'ACK',
              uri: conference,
              localPort: sip.port,
              callId,
              fromTag,
              toTag,
              user,
            }),
            port,
          );
          const bye = await sip.request(
            rawRequest({
              method: 'BYE',
              uri: conference,
              localPort: sip.port,
              callId,
              fromTag,
              toTag,
              user,
              cseq: 2,
            }),
            port,
            10_000,
          );
          count(`BYE ${bye.status}`);
        }
      } finally {
        sip.close();
      }
    }),
  );
  const elapsed = Date.now() - started;
  const settled = await until(async () => (await target.legs()) === 0, 5_000);
  const legs = await target.legs();
  console.log(
    `[loop ${target.label}] ${next} calls in ${elapsed} ms (${Math.round((next * 1000) / elapsed)} calls/s, ${WORKERS} ` +
      `workers): ${[...statuses].map(([s, n]) => `${n}×${s}`).join(', ')}; relay legs afterwards ${legs}`,
  );
  expect(next).toBeGreaterThanOrEqual(Math.min(CALLS, 1_000));
  expect(settled).toBeGreaterThanOrEqual(0);
  expect(legs).toBe(0);
  const failed = next - (statuses.get('INVITE 200') ?? 0);
  if (failed > 0 && target.logs) {
    // Why joins failed is other defects' business (issue 7: KV listing, overload); say it for the lead.
    const causes = target
      .logs()
      .split('\n')
      .filter((l) => /owner failed to handle request|request handling failed/.test(l));
    console.log(
      `[loop ${target.label}] ${failed} joins not 200; first causes:\n${causes.slice(0, 3).join('\n')}`,
    );
  }
  // Every join is answered, and a failed one (500 when the owner outlasts ROUTE_TIMEOUT_MS) keeps no leg.
  expect([...statuses.keys()].every((k) => /^(INVITE|BYE) (200|500)$/.test(k))).toBe(true);
  expect(failed).toBeLessThanOrEqual(Math.ceil(next * 0.05));
}
