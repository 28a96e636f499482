import { type RtpPacket, T140Sender } from '@sip-pubsub/media';
import { formatPackLine, type SenmlPack } from '@sip-pubsub/senml';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PublicationAssembler, type PublicationEvent } from './publication-assembler.js';

const T140 = 98;
const RED = 100;

function sender(ssrc: number): T140Sender {
  return new T140Sender({ ssrc, t140Pt: T140, redPt: RED, generations: 2, initialSequence: 65_530 });
}

function packs(events: PublicationEvent[]): { ssrc: number; pack: SenmlPack }[] {
  return events.flatMap((e) => (e.kind === 'pack' ? [{ ssrc: e.ssrc, pack: e.pack }] : []));
}

describe('PublicationAssembler', () => {
  it('keeps publishers apart by SSRC when their packets interleave (translate mode)', () => {
    const a = sender(0x1111);
    const b = sender(0x2222);
    const assembler = new PublicationAssembler({ t140Pt: T140, redPt: RED });
    const lineA = formatPackLine([{ n: 'a', v: 1 }]);
    const lineB = formatPackLine([{ n: 'b', vs: 'x' }]);
    // Each line is cut in two sends, alternating between the sources.
    const events = [
      ...a.send(lineA.slice(0, 5), 0),
      ...b.send(lineB.slice(0, 7), 1),
      ...a.send(lineA.slice(5), 2),
      ...b.send(lineB.slice(7), 3),
    ].flatMap((p) => assembler.receive(p));
    expect(packs(events)).toEqual([
      { ssrc: 0x1111, pack: [{ n: 'a', v: 1 }] },
      { ssrc: 0x2222, pack: [{ n: 'b', vs: 'x' }] },
    ]);
  });

  it('reports a line that is not SenML as invalid and goes on', () => {
    const s = sender(7);
    const assembler = new PublicationAssembler({ t140Pt: T140, redPt: RED });
    const events = [
      ...s.send('not json\u2028', 0),
      ...s.send(formatPackLine([{ n: 'ok', v: 2 }]), 1),
    ].flatMap((p) => assembler.receive(p));
    expect(events.map((e) => e.kind)).toEqual(['invalid', 'pack']);
    expect(events[0]).toMatchObject({ kind: 'invalid', line: 'not json', ssrc: 7 });
  });

  it('recovers up to two lost packets from redundancy, then reports loss and drops only the damaged line', () => {
    const s = sender(9);
    const assembler = new PublicationAssembler({ t140Pt: T140, redPt: RED });
    const sent: RtpPacket[] = [];
    for (let i = 0; i < 6; i++) sent.push(...s.send(formatPackLine([{ n: `r${i}`, v: i }]), i));
    // Lose packets 1 and 2: two generations of redundancy recover both.
    const kept = sent.filter((_, i) => i !== 1 && i !== 2);
    let events = kept.flatMap((p) => assembler.receive(p));
    expect(packs(events).map((p) => p.pack[0].n)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    expect(events.some((e) => e.kind === 'loss')).toBe(false);

    const more: RtpPacket[] = [];
    for (let i = 6; i < 12; i++) more.push(...s.send(formatPackLine([{ n: `r${i}`, v: i }]), i));
    // Lose 6, 7 and 8: redundancy in 9 brings back 7 and 8, not 6. r6's separator went with it, so the
    // gap marker starts the line that ends after r7: that one damaged line is dropped, r8 on are intact.
    events = more.filter((_, i) => i > 2).flatMap((p) => assembler.receive(p));
    const loss = events.find((e) => e.kind === 'loss');
    expect(loss).toMatchObject({ kind: 'loss', ssrc: 9, lost: 1 });
    const names = packs(events).map((p) => p.pack[0].n);
    expect(names).toEqual(['r8', 'r9', 'r10', 'r11']);
    const damaged = events.reduce((n, e) => n + (e.kind === 'loss' ? e.damagedLines : 0), 0);
    expect(damaged).toBe(1);
  });

  it('ignores packets of payload types nobody negotiated (RFC 6263 keep-alives)', () => {
    const assembler = new PublicationAssembler({ t140Pt: T140, redPt: RED });
    const keepalive: RtpPacket = {
      version: 2,
      padding: false,
      extension: null,
      marker: false,
      payloadType: 20,
      sequenceNumber: 1,
      timestamp: 0,
      ssrc: 1,
      csrcs: [],
      payload: new Uint8Array(0),
    };
    expect(assembler.receive(keepalive)).toEqual([]);
  });

  it('delivers every pack of every source in order for any interleaving without loss', () => {
    const recordArb = fc.record({
      n: fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/),
      v: fc.integer({ min: -1000, max: 1000 }),
    });
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 2 }), fc.array(recordArb, { minLength: 1, maxLength: 3 })),
          { maxLength: 12 },
        ),
        (publications) => {
          const senders = [sender(100), sender(200), sender(300)];
          const assembler = new PublicationAssembler({ t140Pt: T140, redPt: RED });
          const out: { ssrc: number; pack: SenmlPack }[] = [];
          publications.forEach(([source, pack], i) => {
            for (const p of senders[source].send(formatPackLine(pack), i))
              out.push(...packs(assembler.receive(p)));
          });
          expect(out).toEqual(publications.map(([source, pack]) => ({ ssrc: (source + 1) * 100, pack })));
        },
      ),
    );
  });
});
