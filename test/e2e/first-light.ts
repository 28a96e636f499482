// The first-light flow of issue 2, driven with the client SDK over real UDP: topic creation, a second
// creator reaching the same conference, one publisher and two subscribers, roster NOTIFYs, leave, unsubscribe.
import {
  type ConferenceInfo,
  type SenmlPack,
  SipPubSubClient,
  type Subscriber,
  type Watcher,
} from '@sip-pubsub/client';
import { expect } from 'vitest';

export async function eventually<T>(
  what: string,
  probe: () => T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function collect(subscriber: Subscriber): { values: number[]; ssrcs: Set<number>; invalid: string[] } {
  const out = { values: [] as number[], ssrcs: new Set<number>(), invalid: [] as string[] };
  subscriber.on('pack', (pack: SenmlPack, meta: { ssrc: number }) => {
    out.ssrcs.add(meta.ssrc);
    for (const record of pack) if (typeof record.v === 'number') out.values.push(record.v);
  });
  subscriber.on('invalid', (line: string) => out.invalid.push(line));
  return out;
}

function usersIn(view: ConferenceInfo | undefined): Map<string, string | undefined> {
  return new Map((view?.users ?? []).filter((u) => u.state !== 'deleted').map((u) => [u.entity, u.role]));
}

export async function runFirstLight(sipPort: number, topic: string): Promise<void> {
  const server = `127.0.0.1:${sipPort}`;
  const clients: SipPubSubClient[] = [];
  const client = async (user: string) => {
    const c = await SipPubSubClient.connect({ server, user, requestTimeoutMs: 8_000 });
    clients.push(c);
    return c;
  };
  try {
    // Two creators of the same topic reach one conference.
    const creatorA = await client('creator-a');
    const creatorB = await client('creator-b');
    const uriA = await creatorA.resolveTopic(topic);
    const uriB = await creatorB.resolveTopic(topic);
    expect(uriA).toMatch(/^sip:conf-[a-z2-7]{16}@localhost$/);
    expect(uriB).toBe(uriA);

    // A watcher gets a full-state NOTIFY first, then partial ones as people join.
    const watcher: Watcher = await (await client('watcher')).watch(topic);
    const docs: ConferenceInfo[] = [];
    watcher.on('notify', (doc: ConferenceInfo) => docs.push(doc));
    await eventually('the first NOTIFY', () => watcher.state);
    expect(watcher.state!.subject).toBe(topic);
    expect(usersIn(watcher.state).size).toBe(0);

    const sub1 = await (await client('sub-1')).subscriber(topic);
    const sub2 = await (await client('sub-2')).subscriber(topic);
    const got1 = collect(sub1);
    const got2 = collect(sub2);
    const publisher = await (await client('pub-1')).publisher(topic);
    expect(publisher.conferenceUri).toBe(uriA);

    await eventually('three participants in the roster', () => usersIn(watcher.state).size === 3);
    const roster = usersIn(watcher.state);
    expect(roster.get('sip:pub-1@localhost')).toBe('publisher');
    expect(roster.get('sip:sub-1@localhost')).toBe('subscriber');
    expect(roster.get('sip:sub-2@localhost')).toBe('subscriber');
    expect(watcher.state!.pubsub).toMatchObject({ publisherCount: 1, subscriberCount: 2 });
    expect(docs.slice(1).every((d) => d.state === 'partial')).toBe(true);
    const versions = docs.map((d) => d.version);
    expect(versions).toEqual(versions.map((_, i) => versions[0] + i));

    // The topic directory at the factory URI lists the topic with its counts.
    const directory = await (await client('directory')).directory();
    await eventually('the topic in the directory with its counts', () =>
      directory.state?.conferences.find(
        (c) => c.topic === topic && c.publisherCount === 1 && c.subscriberCount === 2,
      ),
    );
    expect(directory.state!.conferences.find((c) => c.topic === topic)!.entity).toBe(uriA);

    // Every publication reaches both subscribers once, in order, with the publisher's SSRC.
    const sent = Array.from({ length: 30 }, (_, i) => 20 + i / 10);
    for (const v of sent) {
      await publisher.publish([{ bn: 'urn:dev:boiler-7:', n: 'temp', u: 'Cel', v }]);
      await new Promise((r) => setTimeout(r, 5));
    }
    await eventually('all publications at subscriber 1', () => got1.values.length >= sent.length);
    await eventually('all publications at subscriber 2', () => got2.values.length >= sent.length);
    await new Promise((r) => setTimeout(r, 300)); // any duplicate would arrive by now
    expect(got1.values).toEqual(sent);
    expect(got2.values).toEqual(sent);
    expect([...got1.ssrcs]).toEqual([publisher.ssrc]);
    expect([...got2.ssrcs]).toEqual([publisher.ssrc]);
    expect(got1.invalid).toEqual([]);

    // Leaving shows in the roster.
    await publisher.close();
    await eventually(
      'the publisher gone from the roster',
      () => !usersIn(watcher.state).has('sip:pub-1@localhost'),
    );
    expect(watcher.state!.pubsub).toMatchObject({ publisherCount: 0, subscriberCount: 2 });
    await eventually('the directory counting no publisher', () =>
      directory.state?.conferences.find((c) => c.topic === topic && c.publisherCount === 0),
    );
    await sub1.close();
    await eventually(
      'subscriber 1 gone from the roster',
      () => !usersIn(watcher.state).has('sip:sub-1@localhost'),
    );

    // Unsubscribing ends the subscription with a terminated NOTIFY.
    const terminated = new Promise<string>((resolve) => watcher.on('terminated', resolve));
    await watcher.close();
    expect(await terminated).toBe('timeout');
    await sub2.close();
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
}
