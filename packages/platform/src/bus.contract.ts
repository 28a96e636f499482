// The behaviour every Bus implementation must have; bus.test.ts runs it in process and on NATS.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bus, BusMessage } from './bus.js';
import { InvalidSubjectError } from './subject.js';

export interface BusHarness {
  /** A bus attached to the same broker as every other bus this harness opened (a "process"). */
  open(): Promise<Bus>;
  close(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

class Collector {
  readonly messages: BusMessage[] = [];
  readonly handler = (msg: BusMessage): void => {
    this.messages.push(msg);
  };
  texts(): string[] {
    return this.messages.map((m) => dec.decode(m.data));
  }
  subjects(): string[] {
    return this.messages.map((m) => m.subject);
  }
  async waitFor(n: number): Promise<void> {
    await vi.waitFor(() => expect(this.messages.length).toBeGreaterThanOrEqual(n), {
      timeout: 5000,
      interval: 5,
    });
  }
}

export function describeBusContract(name: string, makeHarness: () => Promise<BusHarness>): void {
  describe(`Bus contract: ${name}`, () => {
    let harness: BusHarness;
    let a: Bus;
    let b: Bus;

    beforeEach(async () => {
      harness = await makeHarness();
      a = await harness.open();
      b = await harness.open();
    });
    afterEach(async () => {
      await harness.close();
    });

    /** Makes sure subscriptions made so far are known to the broker. */
    async function settle(): Promise<void> {
      await a.flush();
      await b.flush();
    }

    it('delivers the subject and bytes to a subscriber of that exact subject, and nothing else', async () => {
      const got = new Collector();
      b.subscribe('pubsub.directory', got.handler);
      await settle();
      a.publish('pubsub.directoryx', enc.encode('no'));
      a.publish('pubsub', enc.encode('no'));
      a.publish('pubsub.directory', new Uint8Array([0, 1, 2, 255]));
      a.publish('pubsub.directory', enc.encode('end'));
      await got.waitFor(2);
      await settle();
      expect(got.subjects()).toEqual(['pubsub.directory', 'pubsub.directory']);
      expect([...got.messages[0].data]).toEqual([0, 1, 2, 255]);
      expect(got.messages[0].headers).toEqual({});
    });

    it("matches '*' against exactly one token", async () => {
      const got = new Collector();
      b.subscribe('pubsub.roster.*', got.handler);
      await settle();
      for (const s of [
        'pubsub.roster',
        'pubsub.roster.c1.x',
        'pubsub.rosterx.c1',
        'pubsub.roster.c1',
        'pubsub.roster.c2',
      ]) {
        a.publish(s, enc.encode(s));
      }
      await got.waitFor(2);
      await settle();
      expect(got.subjects()).toEqual(['pubsub.roster.c1', 'pubsub.roster.c2']);
    });

    it("matches '*' in the middle of a pattern", async () => {
      const got = new Collector();
      b.subscribe('pubsub.*.c1', got.handler);
      await settle();
      for (const s of ['pubsub.media.c2', 'pubsub.media.c1', 'pubsub.roster.c1', 'pubsub.c1'])
        a.publish(s, enc.encode(s));
      await got.waitFor(2);
      await settle();
      expect(got.subjects()).toEqual(['pubsub.media.c1', 'pubsub.roster.c1']);
    });

    it("matches '>' against one or more trailing tokens", async () => {
      const got = new Collector();
      b.subscribe('pubsub.media.>', got.handler);
      await settle();
      for (const s of ['pubsub.media', 'pubsub.roster.c1', 'pubsub.media.c1', 'pubsub.media.c1.extra.deep']) {
        a.publish(s, enc.encode(s));
      }
      await got.waitFor(2);
      await settle();
      expect(got.subjects()).toEqual(['pubsub.media.c1', 'pubsub.media.c1.extra.deep']);
    });

    it('delivers to every matching subscription, including several on one bus', async () => {
      const exact = new Collector();
      const star = new Collector();
      const rest = new Collector();
      a.subscribe('pubsub.load.r1', exact.handler);
      b.subscribe('pubsub.load.*', star.handler);
      b.subscribe('>', rest.handler);
      await settle();
      a.publish('pubsub.load.r1', enc.encode('x'));
      await Promise.all([exact.waitFor(1), star.waitFor(1), rest.waitFor(1)]);
    });

    it('hands each message to exactly one member of a queue group, and to every plain subscriber', async () => {
      const m1 = new Collector();
      const m2 = new Collector();
      const plain = new Collector();
      a.subscribe('pubsub.media.c1', m1.handler, { queue: 'relays' });
      b.subscribe('pubsub.media.c1', m2.handler, { queue: 'relays' });
      b.subscribe('pubsub.media.c1', plain.handler);
      await settle();
      const sent = Array.from({ length: 40 }, (_, i) => `m${i}`);
      for (const t of sent) a.publish('pubsub.media.c1', enc.encode(t));
      await plain.waitFor(40);
      await vi.waitFor(() => expect(m1.messages.length + m2.messages.length).toBe(40), {
        timeout: 5000,
        interval: 5,
      });
      await settle();
      expect(plain.texts()).toEqual(sent);
      expect([...m1.texts(), ...m2.texts()].sort()).toEqual([...sent].sort());
    });

    it('groups queue members by queue name, even when their patterns differ', async () => {
      const onC1 = new Collector();
      const onAll = new Collector();
      const otherQueue = new Collector();
      a.subscribe('pubsub.roster.c1', onC1.handler, { queue: 'focus' });
      b.subscribe('pubsub.roster.*', onAll.handler, { queue: 'focus' });
      b.subscribe('pubsub.roster.*', otherQueue.handler, { queue: 'notifier' });
      await settle();
      for (let i = 0; i < 10; i++) a.publish('pubsub.roster.c1', enc.encode(String(i)));
      a.publish('pubsub.roster.c2', enc.encode('c2'));
      await otherQueue.waitFor(11);
      await vi.waitFor(() => expect(onC1.messages.length + onAll.messages.length).toBe(11), {
        timeout: 5000,
        interval: 5,
      });
      await settle();
      expect(onC1.messages.length + onAll.messages.length).toBe(11);
      expect(onC1.subjects().every((s) => s === 'pubsub.roster.c1')).toBe(true);
      expect(onAll.texts()).toContain('c2');
    });

    it('carries headers', async () => {
      const got = new Collector();
      b.subscribe('pubsub.roster.c1', got.handler);
      await settle();
      a.publish('pubsub.roster.c1', enc.encode('x'), { 'Call-ID': 'abc@host', 'x-version': '7' });
      a.publish('pubsub.roster.c1', enc.encode('y'));
      await got.waitFor(2);
      expect(got.messages[0].headers).toEqual({ 'Call-ID': 'abc@host', 'x-version': '7' });
      expect(got.messages[1].headers).toEqual({});
    });

    it('keeps publish order per subscription', async () => {
      const got = new Collector();
      const wild = new Collector();
      b.subscribe('pubsub.media.c1', got.handler);
      b.subscribe('pubsub.media.*', wild.handler);
      await settle();
      const sent = Array.from({ length: 300 }, (_, i) => String(i));
      for (const t of sent) a.publish('pubsub.media.c1', enc.encode(t));
      await Promise.all([got.waitFor(300), wild.waitFor(300)]);
      expect(got.texts()).toEqual(sent);
      expect(wild.texts()).toEqual(sent);
    });

    it('delivers asynchronously: never inside publish()', async () => {
      const got = new Collector();
      a.subscribe('pubsub.directory', got.handler);
      await settle();
      a.publish('pubsub.directory', enc.encode('x'));
      expect(got.messages).toHaveLength(0);
      await got.waitFor(1);
    });

    it('lets the publisher reuse its buffer after publish()', async () => {
      const got = new Collector();
      b.subscribe('pubsub.directory', got.handler);
      await settle();
      const buf = enc.encode('abc');
      a.publish('pubsub.directory', buf);
      buf.fill(0);
      await got.waitFor(1);
      expect(got.texts()).toEqual(['abc']);
    });

    it('stops delivering after unsubscribe', async () => {
      const gone = new Collector();
      const sentinel = new Collector();
      const sub = b.subscribe('pubsub.directory', gone.handler);
      b.subscribe('pubsub.directory', sentinel.handler);
      await settle();
      a.publish('pubsub.directory', enc.encode('1'));
      await gone.waitFor(1);
      sub.unsubscribe();
      sub.unsubscribe(); // idempotent
      await settle();
      a.publish('pubsub.directory', enc.encode('2'));
      await sentinel.waitFor(2);
      expect(gone.texts()).toEqual(['1']);
    });

    it('contains a throwing handler: later messages and other subscribers still get through', async () => {
      const seen: string[] = [];
      const other = new Collector();
      b.subscribe('pubsub.directory', (msg) => {
        seen.push(dec.decode(msg.data));
        if (seen.length === 1) throw new Error('handler bug');
      });
      b.subscribe('pubsub.directory', other.handler);
      await settle();
      a.publish('pubsub.directory', enc.encode('1'));
      a.publish('pubsub.directory', enc.encode('2'));
      await other.waitFor(2);
      await vi.waitFor(() => expect(seen).toEqual(['1', '2']), { timeout: 5000, interval: 5 });
    });

    it('rejects malformed subjects', () => {
      expect(() => a.publish('pubsub.*', enc.encode('x'))).toThrow(InvalidSubjectError);
      expect(() => a.publish('pubsub.>', enc.encode('x'))).toThrow(InvalidSubjectError);
      expect(() => a.publish('pubsub..x', enc.encode('x'))).toThrow(InvalidSubjectError);
      expect(() => a.publish('', enc.encode('x'))).toThrow(InvalidSubjectError);
      expect(() => a.subscribe('pubsub.>.x', () => {})).toThrow(InvalidSubjectError);
      expect(() => a.subscribe('pubsub.a b', () => {})).toThrow(InvalidSubjectError);
      expect(() => a.subscribe('pubsub.x*', () => {})).toThrow(InvalidSubjectError);
    });
  });
}
