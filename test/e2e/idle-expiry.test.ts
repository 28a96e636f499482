// CONFERENCE_IDLE_TTL on the wire (README "Idle expiry"), embedded and as four processes with nats-server:
// a topic joined and left is ended once idle past the TTL (directory `deleted`, the old URI 404, the name
// free again); a watched one is not, until its watch ends; a focus replica restarted between the leave and
// the deadline still ends it; with the setting off nothing is ended.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/broker-probes.js';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { DialInParty } from '../support/dial-in-party.js';
import { RawSipSocket, rawRequest, token } from '../support/raw-sip.js';
import { createTopicAs } from '../support/refer-peers.js';

const TTL_MS = 2_000;
const ENV = { SIP_T1_MS: '100', CONFERENCE_IDLE_TTL: `${TTL_MS}ms` };

/** A SUBSCRIBE dialog (any package) whose NOTIFYs are answered 200; it can unsubscribe (Expires: 0). */
class Watch {
  readonly notifies: { state: string; body: string }[] = [];
  status = 0;
  private toTag = '';
  private readonly callId = token(10);
  private readonly fromTag = token();

  private constructor(
    private readonly sip: RawSipSocket,
    private readonly uri: string,
    private readonly headers: string[],
  ) {
    sip.socket.on('message', (msg, rinfo) => {
      const text = msg.toString('utf8');
      if (!text.startsWith('NOTIFY ')) return;
      const [head, ...rest] = text.split('\r\n\r\n');
      const field = (name: string) => new RegExp(`\r\n${name}: *([^\r\n]*)`, 'i').exec(head)?.[1] ?? '';
      const vias = [...head.matchAll(/\r\n(Via: [^\r\n]*)/gi)].map((m) => m[1]);
      const reply = [
        'SIP/2.0 200 OK',
        ...vias,
        ...['From', 'To', 'Call-ID', 'CSeq'].map((n) => `${n}: ${field(n)}`),
      ];
      sip.send([...reply, 'Content-Length: 0', '', ''].join('\r\n'), rinfo.port, rinfo.address);
      this.notifies.push({ state: field('Subscription-State'), body: rest.join('\r\n\r\n') });
    });
  }

  static async open(sipPort: number, uri: string, headers: string[]): Promise<Watch> {
    const watch = new Watch(await RawSipSocket.open(), uri, headers);
    const res = await watch.send(sipPort, 1, 600);
    watch.status = res.status;
    watch.toTag = /;tag=([^;>\s]+)/.exec(res.headers.get('to')?.[0] ?? '')?.[1] ?? '';
    return watch;
  }

  private send(sipPort: number, cseq: number, expires: number) {
    return this.sip.request(
      rawRequest({
        method: 'SUBSCRIBE',
        uri: this.uri,
        localPort: this.sip.port,
        user: 'idle-watcher',
        callId: this.callId,
        fromTag: this.fromTag,
        cseq,
        ...(this.toTag ? { toTag: this.toTag } : {}),
        headers: [...this.headers, `Expires: ${expires}`],
      }),
      sipPort,
      8_000,
    );
  }

  async unsubscribe(sipPort: number): Promise<number> {
    return (await this.send(sipPort, 2, 0)).status;
  }

  get terminated(): boolean {
    return this.notifies.some((n) => n.state.startsWith('terminated'));
  }

  close(): void {
    this.sip.close();
  }
}

const ROSTER = ['Event: conference', 'Accept: application/conference-info+xml'];
const DIRECTORY = ['Event: pubsub-conferences', 'Accept: application/pubsub-conferences-info+xml'];

function scenario(name: string, start: () => Promise<RunningBroker>) {
  describe(`idle expiry (${name}, CONFERENCE_IDLE_TTL=${TTL_MS} ms)`, () => {
    let broker: RunningBroker;
    let directory: Watch;
    const opened: { close(): void }[] = [];
    const deleted = (conf: string) =>
      directory.notifies.some((n) => n.body.includes(`entity="${conf}" state="deleted"`));
    const party = async (user: string) => {
      const p = await DialInParty.open(user);
      opened.push(p);
      return p;
    };

    beforeAll(async () => {
      broker = await start();
      directory = await Watch.open(broker.sipPort, 'sip:factory@localhost', DIRECTORY);
      opened.push(directory);
      expect(directory.status).toBe(200);
    }, 90_000);
    afterAll(async () => {
      for (const o of opened) o.close();
      await broker?.stop();
    });

    it('joined and left: ended once idle past the TTL, the old URI 404, a watched topic kept meanwhile', async () => {
      const topic = `idle/left-${token(4)}`;
      const conf = await createTopicAs(broker.sipPort, topic, 'maker');
      // A topic only watched (no participant ever), created alongside: it must outlive the other one.
      const watchedConf = await createTopicAs(broker.sipPort, `idle/watched-${token(4)}`, 'maker');
      const roster = await Watch.open(broker.sipPort, watchedConf, ROSTER);
      opened.push(roster);
      expect(roster.status).toBe(200);

      const p = await party('leaver');
      expect((await p.invite(broker.sipPort, conf, 'sendonly')).status).toBe(200);
      expect((await p.inDialog(broker.sipPort, 'BYE')).status).toBe(200);
      await until(() => deleted(conf), 30_000, broker.logs);

      const late = await party('late');
      expect((await late.invite(broker.sipPort, conf, 'sendonly')).status).toBe(404);
      const again = await createTopicAs(broker.sipPort, topic, 'maker');
      expect(again).not.toBe(conf);

      // The other topic was idle of participants for at least as long, but watched all along.
      expect(deleted(watchedConf)).toBe(false);
      expect(roster.terminated).toBe(false);
      const joiner = await party('joiner');
      expect((await joiner.invite(broker.sipPort, watchedConf, 'recvonly')).status).toBe(200);
      expect((await joiner.inDialog(broker.sipPort, 'BYE')).status).toBe(200);

      // Once the watch ends too, its idle time runs and it is ended.
      expect(await roster.unsubscribe(broker.sipPort)).toBe(200);
      await until(() => deleted(watchedConf), 30_000, broker.logs);
      expect((await (await party('later')).invite(broker.sipPort, watchedConf, 'sendonly')).status).toBe(404);
    }, 90_000);

    it('a data watcher (SUBSCRIBE pubsub-data) alone keeps a topic well past the TTL', async () => {
      const conf = await createTopicAs(broker.sipPort, `idle/data-${token(4)}`, 'maker');
      const data = await Watch.open(broker.sipPort, conf, [
        'Event: pubsub-data',
        'Accept: application/senml+json',
      ]);
      opened.push(data);
      expect(data.status).toBe(200);
      // A control created after it, unwatched, is ended: the sweep ran over this one meanwhile.
      const control = await createTopicAs(broker.sipPort, `idle/control-${token(4)}`, 'maker');
      await until(() => deleted(control), 30_000, broker.logs);
      expect(deleted(conf)).toBe(false);
      expect(data.terminated).toBe(false);
      const p = await party('still-there');
      expect((await p.invite(broker.sipPort, conf, 'sendonly')).status).toBe(200);
      expect((await p.inDialog(broker.sipPort, 'BYE')).status).toBe(200);
    }, 60_000);

    if (name === 'separate processes')
      it('a focus replica restarted between the leave and the deadline still ends the conference', async () => {
        const focus = broker.services?.find((s) => s.name === 'focus-controller');
        if (!focus || !broker.kill || !broker.restart) throw new Error('no focus process to restart');
        const conf = await createTopicAs(broker.sipPort, `idle/restart-${token(4)}`, 'maker');
        const p = await party('leaver');
        expect((await p.invite(broker.sipPort, conf, 'sendonly')).status).toBe(200);
        expect((await p.inDialog(broker.sipPort, 'BYE')).status).toBe(200);
        await broker.kill(focus.instanceId);
        expect(deleted(conf)).toBe(false);
        await broker.restart(focus.instanceId);
        await until(() => deleted(conf), 60_000, broker.logs);
        expect((await (await party('late')).invite(broker.sipPort, conf, 'sendonly')).status).toBe(404);
      }, 90_000);
  });
}

scenario('embedded', () => startEmbedded(ENV));
scenario('separate processes', () => startSeparateProcesses({ env: ENV }));

describe('idle expiry off (the default, embedded)', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startEmbedded({ SIP_T1_MS: '100' });
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('an empty, unwatched conference stays, however long', async () => {
    const directory = await Watch.open(broker.sipPort, 'sip:factory@localhost', DIRECTORY);
    const conf = await createTopicAs(broker.sipPort, `idle/off-${token(4)}`, 'maker');
    const p = await DialInParty.open('leaver');
    try {
      expect((await p.invite(broker.sipPort, conf, 'sendonly')).status).toBe(200);
      expect((await p.inDialog(broker.sipPort, 'BYE')).status).toBe(200);
      // Three times the TTL the scenarios above end conferences within.
      await new Promise((r) => setTimeout(r, 3 * TTL_MS));
      expect(directory.notifies.some((n) => n.body.includes(`entity="${conf}" state="deleted"`))).toBe(false);
      const again = await DialInParty.open('back');
      try {
        expect((await again.invite(broker.sipPort, conf, 'sendonly')).status).toBe(200);
      } finally {
        again.close();
      }
    } finally {
      p.close();
      directory.close();
    }
  }, 30_000);
});
