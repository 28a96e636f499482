// The command line end to end against the fake focus: exit status, what it prints, what it sends.
import { PassThrough } from 'node:stream';
import { buildConferenceInfo, type ConferenceInfo } from '@sip-pubsub/events';
import { LineAssembler, serializeRtp, T140Receiver, T140Sender } from '@sip-pubsub/media';
import { formatPackLine } from '@sip-pubsub/senml';
import { getHeader } from '@sip-pubsub/sip';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CliIo, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, runCli } from './cli-runner.js';
import { FakeFocus } from './fake-focus.testkit.js';

class TestIo implements CliIo {
  readonly out: string[] = [];
  readonly err: string[] = [];
  readonly stdin = new PassThrough();
  env: Record<string, string | undefined> = {};
  cwd = process.cwd();
  private interrupts: ((signal: NodeJS.Signals) => void)[] = [];
  stdout(line: string): void {
    this.out.push(line);
  }
  stderr(line: string): void {
    this.err.push(line);
  }
  onInterrupt(fn: (signal: NodeJS.Signals) => void): () => void {
    this.interrupts.push(fn);
    return () => {
      this.interrupts = this.interrupts.filter((f) => f !== fn);
    };
  }
  interrupt(): void {
    for (const fn of [...this.interrupts]) fn('SIGINT');
  }
  now(): number {
    return 1_800_000_000_000;
  }
}

async function poll<T>(check: () => T | undefined | false): Promise<T> {
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let focus: FakeFocus;
let io: TestIo;

beforeEach(async () => {
  focus = await FakeFocus.start();
  io = new TestIo();
  io.env = { SIP_PUBSUB_SERVER: focus.server };
});

afterEach(async () => {
  await focus.close();
});

function textLines(): string[] {
  const receiver = new T140Receiver({ t140Pt: 98, redPt: 100 });
  const assembler = new LineAssembler();
  return focus.rtpPackets.flatMap((p) => assembler.push(receiver.receive(p).text).lines);
}

describe('sip-pubsub publish', () => {
  it('publishes one record from flags, confirms it and leaves with BYE', async () => {
    const code = await runCli(
      ['publish', 'plant-7/boiler/temp', '--name', 'temp', '--value', '21.5', '--unit', 'Cel'],
      io,
    );
    expect(code).toBe(EXIT_OK);
    expect(io.out).toEqual(['published to plant-7/boiler/temp: temp = 21.5 Cel']);
    expect(focus.participants[0].offer.role).toBe('publisher');
    expect(focus.requestsOf('BYE')).toHaveLength(1);
    await poll(() => textLines().length >= 1);
    expect(textLines()).toEqual(['[{"n":"temp","u":"Cel","v":21.5}]']);
  });

  it('publishes each stdin line as a pack and reports bad lines with a non-zero exit', async () => {
    const run = runCli(['publish', 't/stdin', '--stdin'], io);
    io.stdin.write('[{"n":"a","v":1}]\n\nnot json\n[{"n":"b","vb":true}]\n');
    io.stdin.end();
    expect(await run).toBe(EXIT_FAILURE);
    expect(io.out).toEqual(['published to t/stdin: a = 1', 'published to t/stdin: b = true']);
    expect(io.err.join('\n')).toMatch(/stdin line 3 skipped: invalid SenML/);
    await poll(() => textLines().length >= 2);
    expect(textLines()).toEqual(['[{"n":"a","v":1}]', '[{"n":"b","vb":true}]']);
  });

  it('exits 1 with the broker’s reason when the topic is refused', async () => {
    const code = await runCli(['publish', ' ', '--name', 'a', '--value', '1'], io);
    expect(code).toBe(EXIT_FAILURE);
    expect(io.err).toEqual(['sip-pubsub publish: topic " ": 400 Empty Subject (the topic)']);
  });

  it('exits 1 naming the rule when the flags make invalid SenML', async () => {
    const code = await runCli(['publish', 't', '--name', 'bad name', '--value', '1'], io);
    expect(code).toBe(EXIT_FAILURE);
    expect(io.err).toHaveLength(1);
    expect(io.err[0]).toMatch(/^sip-pubsub publish: invalid SenML: record 0: /);
    expect(focus.requests).toHaveLength(0);
  });
});

describe('sip-pubsub subscribe', () => {
  it('prints each pack (human form) and exits after --count', async () => {
    const run = runCli(['subscribe', 't/sub', '--count', '2'], io);
    const participant = await focus.until(() => focus.participants[0]);
    const sender = new T140Sender({ ssrc: 1, t140Pt: 98, redPt: 100 });
    const packets = [
      ...sender.send(formatPackLine([{ n: 'temp', v: 21.5, u: 'Cel', t: 1_800_000_000 }]), 0),
      ...sender.send(formatPackLine([{ bn: 'dev:', n: 'door', vb: true }]), 1),
    ];
    await poll(() => io.err.some((l) => l.startsWith('subscribed to t/sub')));
    for (const p of packets)
      focus.rtp.send(serializeRtp(p), participant.offer.port, participant.offer.address);
    expect(await run).toBe(EXIT_OK);
    expect(io.out).toEqual([
      'temp = 21.5 Cel  (t=2027-01-15T08:00:00.000Z)',
      'dev:door = true  (t=2027-01-15T08:00:00.000Z)',
    ]);
    expect(getHeader(focus.requestsOf('BYE')[0], 'Call-ID')).toBe(participant.dialog.callId);
  });

  it('prints one JSON line per pack with --json and leaves cleanly on Ctrl-C', async () => {
    const run = runCli(['subscribe', 't/json', '--json'], io);
    const participant = await focus.until(() => focus.participants[0]);
    await poll(() => io.err.some((l) => l.startsWith('subscribed to')));
    const sender = new T140Sender({ ssrc: 1, t140Pt: 98, redPt: 100 });
    for (const p of sender.send(formatPackLine([{ n: 'x', v: 1 }]), 0))
      focus.rtp.send(serializeRtp(p), participant.offer.port, participant.offer.address);
    await poll(() => io.out.length >= 1);
    io.interrupt();
    expect(await run).toBe(EXIT_OK);
    expect(io.out).toEqual(['[{"n":"x","v":1}]']);
    expect(focus.requestsOf('BYE')).toHaveLength(1);
  });
});

describe('sip-pubsub watch', () => {
  it('prints joins and leaves from the NOTIFYs and unsubscribes on Ctrl-C', async () => {
    const subscription = focus.acceptSubscriptions();
    const run = runCli(['watch', 'plant-7/boiler/temp'], io);
    await poll(() => io.err.some((l) => l.startsWith('watching plant-7/boiler/temp')));
    const dialog = subscription.dialog!;
    const flow = subscription.flow!;
    const entity = dialog.localUri;
    const alice = {
      entity: 'sip:alice@example.com',
      state: 'full' as const,
      role: 'publisher' as const,
      endpoints: [],
    };
    const bob = {
      entity: 'sip:bob@example.com',
      state: 'full' as const,
      role: 'subscriber' as const,
      endpoints: [],
    };
    const notify = (version: number, state: 'full' | 'partial', users: ConferenceInfo['users']) =>
      focus.send(
        focus.notify(dialog, 'active;expires=3600', buildConferenceInfo({ entity, state, version, users })),
        flow,
      );
    await notify(1, 'full', [alice]);
    await notify(2, 'partial', [bob, { entity: alice.entity, state: 'deleted', endpoints: [] }]);
    await poll(() => io.out.length >= 3);
    io.interrupt();
    expect(await run).toBe(EXIT_OK);
    expect(io.out).toEqual([
      '+ sip:alice@example.com publisher',
      '+ sip:bob@example.com subscriber',
      '- sip:alice@example.com',
    ]);
    expect(subscription.subscribes.map((r) => getHeader(r, 'Expires'))).toEqual(['3600', '0']);
  });

  it('prints one JSON object per change with --json', async () => {
    const subscription = focus.acceptSubscriptions();
    const run = runCli(['watch', 't', '--json'], io);
    await poll(() => io.err.some((l) => l.startsWith('watching t')));
    const dialog = subscription.dialog!;
    const users = [
      {
        entity: 'sip:carol@example.com',
        displayText: 'Carol',
        state: 'full' as const,
        role: 'both' as const,
        endpoints: [],
      },
    ];
    await focus.send(
      focus.notify(
        dialog,
        'active;expires=3600',
        buildConferenceInfo({ entity: dialog.localUri, state: 'full', version: 1, users }),
      ),
      subscription.flow!,
    );
    await poll(() => io.out.length >= 1);
    io.interrupt();
    expect(await run).toBe(EXIT_OK);
    expect(io.out.map((l) => JSON.parse(l))).toEqual([
      { op: 'joined', entity: 'sip:carol@example.com', role: 'both', displayText: 'Carol' },
    ]);
  });
});

describe('usage', () => {
  it('exits 2 for a bad command line, naming the problem and the help to read', async () => {
    expect(await runCli(['subscribe'], io)).toBe(EXIT_USAGE);
    expect(io.err).toEqual([
      'sip-pubsub: subscribe needs a topic, e.g. sip-pubsub subscribe plant-7/boiler/temp',
      'Run "sip-pubsub subscribe --help" for usage.',
    ]);
  });

  it('topics takes no positional arguments: exit 2', async () => {
    expect(await runCli(['topics', 'plant-7'], io)).toBe(EXIT_USAGE);
    expect(io.err[0]).toMatch(/topics takes no arguments/);
  });

  it('prints help for a command', async () => {
    expect(await runCli(['watch', '--help'], io)).toBe(EXIT_OK);
    expect(io.out[0]).toMatch(/^Usage: sip-pubsub watch <topic>/);
  });
});
