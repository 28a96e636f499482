import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, rosterEventSchema, subjects } from './bus-events';

describe('bus events', () => {
  const event = {
    type: 'joined' as const,
    conferenceId: 'abc',
    participant: {
      legId: 'l1',
      aor: 'sip:alice@example.com',
      role: 'publisher' as const,
      status: 'recvonly' as const,
      joinedAt: 1,
    },
    at: 2,
  };

  it('round-trips a roster event', () => {
    const back = decodeEvent(rosterEventSchema, encodeEvent(rosterEventSchema, event));
    expect(back).toEqual({ ok: true, value: event });
  });

  it('names the faulty field of a bad event instead of throwing', () => {
    const bad = new TextEncoder().encode(
      JSON.stringify({ ...event, participant: { ...event.participant, role: 'boss' } }),
    );
    const result = decodeEvent(rosterEventSchema, bad);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain('participant.role');
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(decodeEvent(rosterEventSchema, bytes).ok).toBe(false);
      }),
    );
  });

  it('builds subjects under pubsub.', () => {
    expect(subjects.roster('c1')).toBe('pubsub.roster.c1');
    expect(subjects.media('c1')).toBe('pubsub.media.c1');
  });
});
