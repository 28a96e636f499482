import { T140Transmitter } from '@sip-pubsub/media';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MixedPublicationAssembler } from './mixed-publication-assembler.js';
import { PublicationAssembler } from './publication-assembler.js';

const LS = '\u2028';

/** A relay-style RFC 9071 stream: one SSRC, each packet one source's text, named by its CSRC. */
function mixedStream(writes: { source: number; text: string }[]) {
  const tx = new T140Transmitter({ ssrc: 0x5eed, t140Pt: 98, redPt: 100, bufferMs: 100, mixer: true });
  const packets = [];
  let now = 0;
  for (const w of writes) {
    tx.write(w.text, w.source);
    now += 100;
    packets.push(...tx.poll(now));
  }
  for (let i = 0; i < 6; i++) {
    now += 100;
    packets.push(...tx.poll(now));
  }
  return packets;
}

describe('MixedPublicationAssembler (RFC 9071 stream to packs)', () => {
  it('keeps two publishers apart by CSRC and names the mixer SSRC', () => {
    const a = `[{"n":"a","v":1}]${LS}`;
    const b = `[{"n":"b","v":2}]${LS}`;
    const packets = mixedStream([
      { source: 11, text: a.slice(0, 7) },
      { source: 22, text: b.slice(0, 9) },
      { source: 11, text: a.slice(7) },
      { source: 22, text: b.slice(9) },
    ]);
    const rx = new MixedPublicationAssembler({ t140Pt: 98, redPt: 100 });
    const events = packets.flatMap((p) => rx.receive(p));
    expect(events).toEqual([
      { kind: 'pack', pack: [{ n: 'a', v: 1 }], ssrc: 11, line: '[{"n":"a","v":1}]', mixerSsrc: 0x5eed },
      { kind: 'pack', pack: [{ n: 'b', v: 2 }], ssrc: 22, line: '[{"n":"b","v":2}]', mixerSsrc: 0x5eed },
    ]);
    // The translate-mode assembler, fed the same stream, would mix the halves into garbage lines.
    const translate = new PublicationAssembler({ t140Pt: 98, redPt: 100 });
    const wrong = packets.flatMap((p) => translate.receive(p)).filter((e) => e.kind === 'pack');
    expect(wrong).toHaveLength(0);
  });

  it('recovers a lost packet of one publisher from that publisher’s next packet', () => {
    const packets = mixedStream([
      { source: 11, text: '[{"n":' },
      { source: 22, text: `[{"n":"b","v":2}]${LS}` },
      { source: 11, text: '"a",' },
      { source: 11, text: `"v":1}]${LS}` },
    ]);
    // Lose the packet that carried 11's second chunk: its next packet repeats it as redundancy.
    const ofA = packets.map((p, i) => ({ p, i })).filter(({ p }) => p.csrcs[0] === 11);
    const lostIndex = ofA[1].i;
    const lossy = packets.filter((_p, i) => i !== lostIndex);
    const rx = new MixedPublicationAssembler({ t140Pt: 98, redPt: 100 });
    const packs = lossy.flatMap((p) => rx.receive(p)).filter((e) => e.kind === 'pack');
    expect(packs.map((e) => e.kind === 'pack' && [e.ssrc, e.line])).toEqual([
      [22, '[{"n":"b","v":2}]'],
      [11, '[{"n":"a","v":1}]'],
    ]);
  });

  it('property: any interleaving of publishers’ chunks gives each publisher its lines, in order', () => {
    const line = fc.record({ n: fc.constantFrom('t', 'h', 'p'), v: fc.integer({ min: -99, max: 99 }) });
    const publisher = fc.array(line, { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(
        fc.array(publisher, { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat({ max: 10 }), { minLength: 1, maxLength: 20 }),
        (pubs, cuts) => {
          // Each publisher's text cut into chunks, chunks interleaved round-robin.
          const queues = pubs.map((records) => {
            const text = records.map((r) => `${JSON.stringify([r])}${LS}`).join('');
            const chunks: string[] = [];
            let at = 0;
            for (let i = 0; at < text.length; i++) {
              const n = 1 + (cuts[i % cuts.length] ?? 0);
              chunks.push(text.slice(at, at + n));
              at += n;
            }
            return chunks;
          });
          const writes: { source: number; text: string }[] = [];
          for (let round = 0; queues.some((q) => q.length > 0); round++)
            queues.forEach((q, i) => {
              const chunk = q.shift();
              if (chunk !== undefined) writes.push({ source: 100 + i, text: chunk });
            });
          const rx = new MixedPublicationAssembler({ t140Pt: 98, redPt: 100 });
          const got = new Map<number, unknown[]>();
          for (const p of mixedStream(writes))
            for (const e of rx.receive(p))
              if (e.kind === 'pack') got.set(e.ssrc, [...(got.get(e.ssrc) ?? []), ...e.pack]);
          pubs.forEach((records, i) => {
            expect(got.get(100 + i)).toEqual(records);
          });
        },
      ),
      { numRuns: 100 },
    );
  });
});
