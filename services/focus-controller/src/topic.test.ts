import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseTopic } from './topic.js';

describe('normaliseTopic', () => {
  it('trims and NFC-normalises', () => {
    expect(normaliseTopic('  plant-7/boiler/temp ')).toEqual({ ok: true, topic: 'plant-7/boiler/temp' });
    // 'é' as e + combining acute becomes the single code point U+00E9
    expect(normaliseTopic('caf\u0065\u0301/x')).toEqual({ ok: true, topic: 'caf\u00e9/x' });
  });

  it.each([
    [undefined, 'Missing Subject'],
    ['   ', 'Empty Subject'],
    ['a//b', 'empty segment'],
    ['/a', 'empty segment'],
    ['a/', 'empty segment'],
    ['a/+/b', "'+' or '#'"],
    ['a/#', "'+' or '#'"],
    ['x'.repeat(257), 'Topic too long'],
    ['a\u0001b', 'control character'],
  ])('rejects %j with a reason', (subject, reason) => {
    const check = normaliseTopic(subject);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.reason).toContain(reason);
  });

  it('counts bytes, not characters', () => {
    expect(normaliseTopic('é'.repeat(128)).ok).toBe(true); // 256 bytes
    expect(normaliseTopic('é'.repeat(129)).ok).toBe(false);
  });

  it('accepts only topics that are stable under normalisation and never throws', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), (s) => {
        const check = normaliseTopic(s);
        if (check.ok) expect(normaliseTopic(check.topic)).toEqual(check);
      }),
    );
  });
});
