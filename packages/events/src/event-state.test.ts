import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventStateError } from './errors.js';
import {
  classifyPublish,
  createEventState,
  EventStateExpiries,
  expireEventState,
  isEventStateExpired,
  matchesEventState,
  modifyEventState,
  refreshEventState,
  removeEventState,
} from './event-state.js';

/** A fake clock: tests move time by hand. */
function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('classifyPublish (RFC 3903 §4, §6 steps 3–5)', () => {
  it('an initial publication has a body and no SIP-If-Match', () => {
    expect(classifyPublish({ ifMatch: undefined, hasBody: true, expires: 600 })).toEqual({
      ok: true,
      operation: 'initial',
    });
  });

  it('a refresh has SIP-If-Match and no body', () => {
    expect(classifyPublish({ ifMatch: 'abc', hasBody: false, expires: 600 })).toEqual({
      ok: true,
      operation: 'refresh',
    });
  });

  it('a modification has SIP-If-Match and a body', () => {
    expect(classifyPublish({ ifMatch: 'abc', hasBody: true, expires: 60 })).toEqual({
      ok: true,
      operation: 'modify',
    });
  });

  it('Expires 0 with SIP-If-Match removes, body or not', () => {
    expect(classifyPublish({ ifMatch: 'abc', hasBody: false, expires: 0 })).toEqual({
      ok: true,
      operation: 'remove',
    });
    expect(classifyPublish({ ifMatch: 'abc', hasBody: true, expires: 0 })).toEqual({
      ok: true,
      operation: 'remove',
    });
  });

  it('refuses with 400 what names no state and carries none', () => {
    expect(classifyPublish({ ifMatch: undefined, hasBody: false, expires: 600 })).toMatchObject({
      ok: false,
      status: 400,
      reason: 'PUBLISH Without Body Or SIP-If-Match',
    });
    expect(classifyPublish({ ifMatch: undefined, hasBody: true, expires: 0 })).toMatchObject({
      ok: false,
      status: 400,
    });
    expect(classifyPublish({ ifMatch: '  ', hasBody: false, expires: 600 })).toMatchObject({
      ok: false,
      status: 400,
    });
  });
});

describe('event state transitions on a fake clock (RFC 3903 §6)', () => {
  it('initial → refresh → modify → remove, each 2xx with a new tag', () => {
    const clock = fakeClock();
    const t0 = clock.now();
    const initial = createEventState('e1', 600, t0);
    expect(initial).toEqual({
      id: 'e1',
      etag: 'e1',
      status: 'active',
      expiresAt: t0 + 600_000,
      generation: 0,
    });
    expect(matchesEventState(initial, 'e1', t0)).toBe(true);

    clock.advance(500_000);
    const refreshed = refreshEventState(initial, 'e2', 600, clock.now());
    expect(refreshed).toMatchObject({
      id: 'e1',
      etag: 'e2',
      expiresAt: clock.now() + 600_000,
      generation: 0,
    });
    // The replaced tag no longer matches (§6 step 4), the new one does.
    expect(matchesEventState(refreshed, 'e1', clock.now())).toBe(false);
    expect(matchesEventState(refreshed, 'e2', clock.now())).toBe(true);
    // Without the refresh the state would have expired by now.
    clock.advance(200_000);
    expect(isEventStateExpired(initial, clock.now())).toBe(true);
    expect(isEventStateExpired(refreshed, clock.now())).toBe(false);

    const modified = modifyEventState(refreshed, 'e3', 60, clock.now());
    expect(modified).toMatchObject({ id: 'e1', etag: 'e3', expiresAt: clock.now() + 60_000, generation: 1 });
    expect(matchesEventState(modified, 'e2', clock.now())).toBe(false);

    const removed = removeEventState(modified, clock.now());
    expect(removed.status).toBe('removed');
    expect(matchesEventState(removed, 'e3', clock.now())).toBe(false);
  });

  it('state expires exactly at its expiry time; then its tag gets 412 and it cannot be refreshed', () => {
    const clock = fakeClock();
    const s = createEventState('e1', 30, clock.now());
    clock.advance(29_999);
    expect(isEventStateExpired(s, clock.now())).toBe(false);
    expect(matchesEventState(s, 'e1', clock.now())).toBe(true);
    expect(() => expireEventState(s, clock.now())).toThrow(EventStateError);
    clock.advance(1);
    expect(isEventStateExpired(s, clock.now())).toBe(true);
    expect(matchesEventState(s, 'e1', clock.now())).toBe(false);
    expect(() => refreshEventState(s, 'e2', 30, clock.now())).toThrow(EventStateError);
    expect(() => modifyEventState(s, 'e2', 30, clock.now())).toThrow(EventStateError);
    expect(() => removeEventState(s, clock.now())).toThrow(EventStateError);
    const expired = expireEventState(s, clock.now());
    expect(expired.status).toBe('removed');
    // Expiry happens once.
    expect(() => expireEventState(expired, clock.now())).toThrow(EventStateError);
    expect(isEventStateExpired(expired, clock.now())).toBe(false);
  });

  it('removed state accepts no further move', () => {
    const clock = fakeClock();
    const removed = removeEventState(createEventState('e1', 600, clock.now()), clock.now());
    expect(() => refreshEventState(removed, 'e2', 600, clock.now())).toThrow(/removed/);
    expect(() => removeEventState(removed, clock.now())).toThrow(/removed/);
    expect(() => expireEventState(removed, clock.now())).toThrow(/removed/);
  });

  it('an unknown tag never matches; a refresh must change the tag; Expires must be positive', () => {
    const clock = fakeClock();
    const s = createEventState('e1', 600, clock.now());
    expect(matchesEventState(undefined, 'e1', clock.now())).toBe(false);
    expect(matchesEventState(s, 'other', clock.now())).toBe(false);
    expect(() => refreshEventState(s, 'e1', 600, clock.now())).toThrow(/new entity tag/);
    expect(() => refreshEventState(s, 'e2', 0, clock.now())).toThrow(EventStateError);
    expect(() => createEventState('e1', 0, clock.now())).toThrow(EventStateError);
  });
});

describe('EventStateExpiries', () => {
  it('reports due keys earliest first and keeps them until forgotten or re-tracked', () => {
    const clock = fakeClock(0);
    const expiries = new EventStateExpiries();
    expiries.track('b', 2_000);
    expiries.track('a', 1_000);
    expiries.track('c', 5_000);
    expect(expiries.due(clock.now())).toEqual([]);
    clock.advance(2_000);
    expect(expiries.due(clock.now())).toEqual(['a', 'b']);
    expiries.forget('a');
    expiries.track('b', 10_000); // refreshed meanwhile
    expect(expiries.due(clock.now())).toEqual([]);
    clock.advance(3_000);
    expect(expiries.due(clock.now())).toEqual(['c']);
    expect(expiries.size).toBe(2);
    expect(expiries.has('c')).toBe(true);
  });
});

describe('event state against a model of RFC 3903 §6 (fast-check)', () => {
  type Command =
    | { kind: 'advance'; ms: number }
    | { kind: 'refresh' | 'modify'; tag: 'current' | 'previous'; expires: number }
    | { kind: 'remove'; tag: 'current' | 'previous' };
  const command: fc.Arbitrary<Command> = fc.oneof(
    fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 120_000 }) }),
    fc.record({
      kind: fc.constantFrom('refresh' as const, 'modify' as const),
      tag: fc.constantFrom('current' as const, 'previous' as const),
      expires: fc.integer({ min: 30, max: 120 }),
    }),
    fc.record({
      kind: fc.constant('remove' as const),
      tag: fc.constantFrom('current' as const, 'previous' as const),
    }),
  );

  it('accepts exactly the requests naming live, current state; every 2xx gives a fresh tag', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 30, max: 120 }),
        fc.array(command, { maxLength: 40 }),
        (initial, commands) => {
          let now = 1_000_000;
          let tags = 0;
          const nextTag = () => `t${++tags}`;
          let state = createEventState(nextTag(), initial, now);
          let previous: string | undefined;
          // The model: live until `deadline` unless removed; only `current` names it.
          let model = { current: state.etag, deadline: now + initial * 1000, removed: false, generation: 0 };
          const seen = new Set([state.etag]);
          for (const c of commands) {
            if (c.kind === 'advance') {
              now += c.ms;
              continue;
            }
            const tag = c.tag === 'current' ? model.current : (previous ?? 'never-issued');
            const modelAccepts = !model.removed && now < model.deadline && tag === model.current;
            expect(matchesEventState(state, tag, now)).toBe(modelAccepts);
            if (!modelAccepts) continue;
            if (c.kind === 'remove') {
              state = removeEventState(state, now);
              model = { ...model, removed: true };
              continue;
            }
            const etag = nextTag();
            state =
              c.kind === 'modify'
                ? modifyEventState(state, etag, c.expires, now)
                : refreshEventState(state, etag, c.expires, now);
            previous = model.current;
            model = {
              current: etag,
              deadline: now + c.expires * 1000,
              removed: false,
              generation: model.generation + (c.kind === 'modify' ? 1 : 0),
            };
            expect(seen.has(state.etag)).toBe(false);
            seen.add(state.etag);
            expect(state.generation).toBe(model.generation);
            expect(state.id).toBe('t1');
          }
          expect(isEventStateExpired(state, now)).toBe(!model.removed && now >= model.deadline);
        },
      ),
      { numRuns: 300 },
    );
  });
});
