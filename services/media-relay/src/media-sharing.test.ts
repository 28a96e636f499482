import { describe, expect, it } from 'vitest';
import { MediaSharing } from './media-sharing.js';

describe('MediaSharing', () => {
  const sharing = (now = { t: 0 }) => ({
    now,
    s: new MediaSharing({ self: 'r1', readerTtlMs: 6_000, now: () => now.t }),
  });

  it('wants a hosted conference shared only while another relay hosts it', () => {
    const { s } = sharing();
    expect(s.opened('c')).toEqual({ relayId: 'r1', hosting: true, ask: true });
    expect(s.wanted('c')).toBe(false);
    // Our own hello, echoed by the bus, is no other reader and gets no answer.
    expect(s.onHost('c', { relayId: 'r1', hosting: true, ask: true })).toBeUndefined();
    expect(s.wanted('c')).toBe(false);
    // Another relay opens it and asks: we answer, and share.
    expect(s.onHost('c', { relayId: 'r2', hosting: true, ask: true })).toEqual({
      relayId: 'r1',
      hosting: true,
    });
    expect(s.wanted('c')).toBe(true);
    expect(s.wanted('other')).toBe(false);
    // An answer is not answered again.
    expect(s.onHost('c', { relayId: 'r3', hosting: true })).toBeUndefined();
    expect(s.peersOf('c').sort()).toEqual(['r2', 'r3']);
    s.onHost('c', { relayId: 'r2', hosting: false });
    expect(s.wanted('c')).toBe(true);
    s.forgetRelays(['r3']);
    expect(s.wanted('c')).toBe(false);
  });

  it('ignores hosts messages of a conference not hosted here, and forgets peers when it closes', () => {
    const { s } = sharing();
    expect(s.onHost('c', { relayId: 'r2', hosting: true, ask: true })).toBeUndefined();
    s.opened('c');
    expect(s.wanted('c')).toBe(false);
    s.onHost('c', { relayId: 'r2', hosting: true });
    expect(s.closed('c')).toEqual({ relayId: 'r1', hosting: false });
    expect(s.wanted('c')).toBe(false);
    s.opened('c');
    expect(s.wanted('c')).toBe(false);
  });

  it('wants every conference shared while a reader of every stream is announced, until it stops or lapses', () => {
    const { s, now } = sharing();
    s.onReader({ readerId: 'n1', reading: true });
    expect(s.wanted('any')).toBe(true);
    // A relay asking who reads is no reader.
    s.onReader({ readerId: 'r9', reading: false, ask: true });
    s.onReader({ readerId: 'n1', reading: false });
    expect(s.wanted('any')).toBe(false);
    s.onReader({ readerId: 'n2', reading: true });
    now.t = 5_999;
    expect(s.wanted('any')).toBe(true);
    now.t = 6_000;
    expect(s.wanted('any')).toBe(false);
    // A repeat renews it.
    s.onReader({ readerId: 'n2', reading: true });
    now.t = 11_000;
    expect(s.wanted('any')).toBe(true);
    // Our own id is never a reader.
    s.onReader({ readerId: 'r1', reading: true });
    now.t = 20_000;
    expect(s.wanted('any')).toBe(false);
  });
});
