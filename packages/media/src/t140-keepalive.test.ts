import { describe, expect, it } from 'vitest';
import { parseRtp } from './rtp-packet.js';
import { isRedundancyOnly } from './t140-keepalive.js';
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
