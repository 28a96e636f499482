import fc from 'fast-check';
import { connect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBusContract } from './bus.contract.js';
import type { Bus } from './bus.js';
import { InProcessBus } from './in-process-bus.js';
import { createLogger } from './logging.js';
import { connectNatsBus } from './nats-bus.js';
import { assertValidSubject, subjectMatches } from './subject.js';
import { type RunningNatsServer, startNatsServer } from './testing/nats-server.js';

const quiet = createLogger('test', { level: 'silent' });

describeBusContract('InProcessBus', async () => {
  const bus = new InProcessBus({ logger: quiet });
  return { open: async () => bus, close: () => bus.close() };
});

describe('on nats-server', () => {
  let server: RunningNatsServer;
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeBusContract('NATS', async () => {
    const buses: Bus[] = [];
    return {
      open: async () => {
        const nc = await connect({ servers: server.url });
        const bus = await connectNatsBus(nc, { logger: quiet, ownsConnection: true });
        buses.push(bus);
        return bus;
      },
      close: async () => {
        await Promise.all(buses.map((b) => b.close()));
      },
    };
  });
});

describe('subjectMatches', () => {
  const token = fc.stringMatching(/^[a-z0-9-]{1,6}$/);
  const subject = fc.array(token, { minLength: 1, maxLength: 6 });

  it('matches a subject against itself, and against * per token', () => {
    fc.assert(
      fc.property(subject, fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), (tokens, stars) => {
        expect(subjectMatches(tokens.join('.'), tokens.join('.'))).toBe(true);
        const pattern = tokens.map((t, i) => (stars[i] ? '*' : t)).join('.');
        assertValidSubject(pattern, true);
        expect(subjectMatches(pattern, tokens.join('.'))).toBe(true);
        expect(subjectMatches(pattern, `${tokens.join('.')}.more`)).toBe(false);
      }),
    );
  });

  it("matches '>' exactly when the subject extends the prefix by at least one token", () => {
    fc.assert(
      fc.property(subject, subject, (prefix, s) => {
        const expected = s.length > prefix.length && prefix.every((t, i) => s[i] === t);
        expect(subjectMatches(`${prefix.join('.')}.>`, s.join('.'))).toBe(expected);
      }),
    );
  });
});

describe('InProcessBus specifics', () => {
  it('rotates a queue group so each member takes a turn', async () => {
    const bus = new InProcessBus({ logger: quiet });
    const got: string[] = [];
    bus.subscribe('s', () => got.push('a'), { queue: 'q' });
    bus.subscribe('s', () => got.push('b'), { queue: 'q' });
    for (let i = 0; i < 4; i++) bus.publish('s', new Uint8Array());
    await bus.flush();
    expect(got).toEqual(['a', 'b', 'a', 'b']);
  });

  it('delivers everything published before flush() resolves', async () => {
    const bus = new InProcessBus({ logger: quiet });
    let count = 0;
    bus.subscribe('s', () => {
      count++;
      if (count === 1) bus.publish('s', new Uint8Array()); // published from inside a handler
    });
    bus.publish('s', new Uint8Array());
    await bus.flush();
    expect(count).toBe(2);
  });

  it('refuses to publish after close and drops pending deliveries', async () => {
    const bus = new InProcessBus({ logger: quiet });
    let count = 0;
    bus.subscribe('s', () => count++);
    bus.publish('s', new Uint8Array());
    await bus.close();
    await new Promise((r) => setImmediate(r));
    expect(count).toBe(0);
    expect(() => bus.publish('s', new Uint8Array())).toThrow('bus is closed');
  });
});
