import { describe, expect, it } from 'vitest';
import { parseRtp } from './rtp-packet.js';
import { isRedundancyOnly, redCarriesNoText } from './t140-keepalive.js';
import { T140Sender } from './t140-sender.js';

describe('isRedundancyOnly', () => {
  const opts = { t140Pt: 98, redPt: 100 };

  it('flags drain packets but not packets with new text', () => {
    const s = new T140Sender({ ssrc: 1, ...opts, initialSequence: 0 });
    const [text] = s.send('a', 0);
    const [drain] = s.drain(300);
    expect(isRedundancyOnly(text, opts)).toBe(false);
    expect(isRedundancyOnly(drain, opts)).toBe(true);
  });

  it('flags empty plain T.140 and malformed RED, ignores other payload types', () => {
    const hex = (s: string) => parseRtp(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
    expect(isRedundancyOnly(hex('8062 0001 00000000 00000001'), opts)).toBe(true);
    expect(isRedundancyOnly(hex('8062 0001 00000000 00000001 61'), opts)).toBe(false);
    expect(isRedundancyOnly(hex('8064 0001 00000000 00000001 e2'), opts)).toBe(true);
    expect(isRedundancyOnly(hex('8000 0001 00000000 00000001'), opts)).toBe(false);
  });
});

describe('redCarriesNoText', () => {
  const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
  it('is true only for RED whose every block is empty, read within the given range', () => {
    const empty = hex('00 e2000000 e2000000 62 00');
    expect(redCarriesNoText(empty, 1, empty.length - 1)).toBe(true);
    // Redundancy still carries text: a receiver that lost the earlier packet needs it.
    const redundant = hex('e2000001 62 61');
    expect(redCarriesNoText(redundant, 0, redundant.length)).toBe(false);
    // Not parseable: not judged empty here (the receiver decides what it holds).
    const truncated = hex('e20000');
    expect(redCarriesNoText(truncated, 0, truncated.length)).toBe(false);
  });
});
