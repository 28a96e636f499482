// Issue 7 defect 4(c): per-topic access lists from ACL_FILE, mounted as a Kubernetes ConfigMap would be
// (`acl.txt -> ..data/acl.txt`, `..data -> ..<version>`, updated by swapping `..data`). Refusals are 403
// with a reason; the directory hides what the watcher may not watch; a bad edit keeps the old list and
// logs the line; a good edit changes the verdict without a restart.
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startEmbedded } from '../support/brokers.js';
import { DigestAccount } from '../support/digest.js';
import { type RawResponse, RawSipSocket, rawRequest, token } from '../support/raw-sip.js';

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

const FIRST = [
  '# who may do what, first match wins',
  'deny  bob create    blocked/#',
  'deny  bob publish   readonly/#',
  'deny  bob subscribe writeonly/+',
  'deny  bob watch     secret/#',
  'allow *   *         #',
].join('\n');

/** A ConfigMap volume: the file is a symlink into `..data`, which is swapped to a new directory. */
class ConfigMapVolume {
  private version = 0;
  constructor(readonly dir: string) {}
  get file(): string {
    return path.join(this.dir, 'acl.txt');
  }
  async publish(text: string): Promise<void> {
    const name = `..v${++this.version}`;
    await mkdir(path.join(this.dir, name));
    await writeFile(path.join(this.dir, name, 'acl.txt'), text);
    if (this.version === 1) {
      await symlink(name, path.join(this.dir, '..data'));
      await symlink(path.join('..data', 'acl.txt'), this.file);
      return;
    }
    await symlink(name, path.join(this.dir, '..data_tmp'));
    await rename(path.join(this.dir, '..data_tmp'), path.join(this.dir, '..data'));
    await rm(path.join(this.dir, `..v${this.version - 1}`), { recursive: true });
  }
}

const DOMAIN = 'sip:factory@localhost';

describe('per-topic access lists', () => {
  let broker: RunningBroker;
  let volume: ConfigMapVolume;
  beforeAll(async () => {
    volume = new ConfigMapVolume(await mkdtemp(path.join(tmpdir(), 'acl-')));
    await volume.publish(FIRST);
    broker = await startEmbedded({
      AUTH_REALM: 'pubsub.test',
      AUTH_CREDENTIALS: 'alice:wonderland,bob:builder',
      ACL_FILE: volume.file,
      ACL_DEFAULT: 'deny',
      ACL_POLL_INTERVAL_MS: '1000',
      // Refusals are logged at info: this test reads them.
      LOG_LEVEL: 'info',
    });
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
    await rm(volume.dir, { recursive: true, force: true });
  });

  it('refuses with reasons, filters the directory, and follows edits of the file without a restart', async () => {
    const port = broker.sipPort;
    const aliceSip = await RawSipSocket.open();
    const bobSip = await RawSipSocket.open();
    const alice = new DigestAccount('alice', 'wonderland');
    const bob = new DigestAccount('bob', 'builder');
    const seen: Record<string, string> = {};
    const as = async (
      account: DigestAccount,
      sip: RawSipSocket,
      o: { method: string; uri: string; headers?: string[]; body?: string; callId?: string },
    ): Promise<RawResponse> => {
      const send = () =>
        sip.request(
          rawRequest({
            method: o.method,
            uri: o.uri,
            localPort: sip.port,
            user: account.username,
            callId: o.callId ?? token(10),
            headers: [
              ...(o.headers ?? []),
              ...(account.nonce ? [account.authorization(o.method, o.uri)] : []),
            ],
            ...(o.body ? { body: o.body } : {}),
          }),
          port,
        );
      let res = await send();
      if (res.status === 401) {
        account.challenged(res);
        res = await send();
      }
      return res;
    };
    const create = (account: DigestAccount, sip: RawSipSocket, topic: string) =>
      as(account, sip, { method: 'INVITE', uri: DOMAIN, headers: [`Subject: ${topic}`] });
    const confOf = async (topic: string) => {
      const res = await create(alice, aliceSip, topic);
      expect(res.status, res.raw).toBe(302);
      return /<([^>]+)>/.exec(res.headers.get('contact')![0])![1];
    };
    const join = (conf: string, direction: string, callId?: string) =>
      as(bob, bobSip, {
        method: 'INVITE',
        uri: conf,
        callId,
        headers: ['Content-Type: application/sdp'],
        body: offer(43_000, direction),
      });
    const watch = (conf: string) =>
      as(bob, bobSip, { method: 'SUBSCRIBE', uri: conf, headers: ['Event: conference', 'Expires: 60'] });
    const show = (res: RawResponse) => `${res.status} ${res.reason}`;
    try {
      const suffix = token(2);
      const readonly = await confOf(`readonly/${suffix}`);
      const writeonly = await confOf(`writeonly/${suffix}`);
      const secret = await confOf(`secret/${suffix}`);

      seen['bob create blocked/…'] = show(await create(bob, bobSip, `blocked/${suffix}`));
      const refusedCallId = token(10);
      seen['bob publish readonly/…'] = show(await join(readonly, 'sendonly', refusedCallId));
      seen['bob subscribe readonly/…'] = show(await join(readonly, 'recvonly'));
      seen['bob subscribe writeonly/…'] = show(await join(writeonly, 'recvonly'));
      seen['bob watch secret/…'] = show(await watch(secret));
      expect(seen).toEqual({
        'bob create blocked/…': '403 Not Allowed To Create This Topic',
        'bob publish readonly/…': '403 Not Allowed To Publish To This Topic',
        'bob subscribe readonly/…': '200 OK',
        'bob subscribe writeonly/…': '403 Not Allowed To Subscribe To This Topic',
        'bob watch secret/…': '403 Not Allowed To Watch This Topic',
      });
      // The edge logged the refusal at info with why, the Call-ID and the conference; the focus's own lines
      // within the request (its request scope) carry the Call-ID and the conference id without naming them.
      const lines = logLines(broker.logs());
      const readonlyId = /^sip:conf-([^@]+)@/.exec(readonly)?.[1];
      expect(
        lines.find((l) => l.msg === 'request refused by its owner' && l.callId === refusedCallId),
      ).toMatchObject({
        level: 'info',
        status: 403,
        reason: 'Not Allowed To Publish To This Topic',
        conference: readonlyId,
      });
      const joined = lines.find((l) => l.msg === 'participant joined' && l.conferenceId === readonlyId);
      expect(joined).toMatchObject({
        service: 'focus-controller',
        method: 'INVITE',
        callId: expect.any(String),
      });
      const created = lines.find((l) => l.msg === 'conference created' && l.topic === `readonly/${suffix}`);
      // 'conference created' names no Call-ID itself: the scope added the one of the INVITE that created it.
      expect(created).toMatchObject({
        service: 'focus-controller',
        callId: expect.any(String),
        method: 'INVITE',
      });

      // The directory: each watcher sees only the topics it may watch.
      const directory = async (account: DigestAccount, sip: RawSipSocket) => {
        const res = await as(account, sip, {
          method: 'SUBSCRIBE',
          uri: DOMAIN,
          headers: ['Event: pubsub-conferences', 'Expires: 60'],
        });
        expect(res.status, res.raw).toBe(200);
        const notify = await sip.next((m) => m.startsWith('NOTIFY '), 10_000);
        const keep = notify.split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
        sip.send(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n'), port);
        return [...notify.matchAll(/<topic>([^<]*)<\/topic>/g)].map((m) => m[1]).sort();
      };
      const bobSees = await directory(bob, bobSip);
      const aliceSees = await directory(alice, aliceSip);
      seen['directory of bob'] = bobSees.join(' ');
      seen['directory of alice'] = aliceSees.join(' ');
      expect(aliceSees).toEqual([`readonly/${suffix}`, `secret/${suffix}`, `writeonly/${suffix}`]);
      expect(bobSees).toEqual([`readonly/${suffix}`, `writeonly/${suffix}`]);

      // A bad edit: the old list stays in force and the error names the line.
      await volume.publish(`${FIRST}\nallow bob watch`);
      const badLine = FIRST.split('\n').length + 1;
      const logged = new RegExp(`line ${badLine}: expected 'allow\\|deny`);
      for (let i = 0; i < 100 && !logged.test(broker.logs()); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(broker.logs()).toMatch(logged);
      seen['after a bad edit, bob watch secret/…'] = show(await watch(secret));
      expect(seen['after a bad edit, bob watch secret/…']).toMatch(/^403 /);

      // A good edit: bob may watch secret topics now; measured from the swap to the first 200.
      await volume.publish(
        FIRST.replace('deny  bob watch     secret/#', '# bob may watch secret topics now'),
      );
      const swapped = Date.now();
      let verdict = await watch(secret);
      for (let i = 0; i < 50 && verdict.status === 403; i++) {
        await new Promise((r) => setTimeout(r, 100));
        verdict = await watch(secret);
      }
      seen['after a good edit, bob watch secret/…'] = show(verdict);
      console.log(
        `[chaos/acl] ${JSON.stringify(seen)}; new list in force ${Date.now() - swapped} ms after the swap`,
      );
      expect(verdict.status).toBe(200);
    } finally {
      aliceSip.close();
      bobSip.close();
    }
  }, 55_000);
});

/** The JSON log lines of the broker's output (each captured chunk starts with `[name] `). */
function logLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .map((l) => l.replace(/^\[[\w-]+\] /, ''))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}
