import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTopicPattern, TopicPatternError, topicMatches } from './topic-pattern.js';

// A small alphabet so random patterns and topics often share segments.
const segment = fc.constantFrom('a', 'b', 'plant-7', 'temp', 'é', 'e\u0301');
const topic = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('/'));
const patternSegments = fc
  .tuple(fc.array(fc.oneof(segment, fc.constant('+')), { maxLength: 5 }), fc.boolean())
  .filter(([segments, hash]) => segments.length > 0 || hash)
  .map(([segments, hash]) => (hash ? [...segments, '#'] : segments));

/** Reference: the pattern as a regular expression over NFC text. */
function reference(segments: string[], text: string): boolean {
  const literal = (s: string) => s.normalize('NFC').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  let source = '';
  segments.forEach((s, i) => {
    const sep = i === 0 ? '' : '/';
    if (s === '#') source += i === 0 ? '.*' : '(?:/.*)?';
    else source += sep + (s === '+' ? '[^/]+' : literal(s));
  });
  return new RegExp(`^${source}$`, 'u').test(text.normalize('NFC'));
}

describe('topic patterns', () => {
  it('match exactly what the reference regular expression matches', () => {
    fc.assert(
      fc.property(patternSegments, topic, (segments, t) => {
        expect(topicMatches(parseTopicPattern(segments.join('/')), t)).toBe(reference(segments, t));
      }),
      { numRuns: 2_000 },
    );
  });

  it('a topic matches itself, with any segment as +, and under any of its prefixes followed by #', () => {
    fc.assert(
      fc.property(topic, fc.nat(), (t, n) => {
        const parts = t.split('/');
        expect(topicMatches(parseTopicPattern(t), t)).toBe(true);
        const i = n % parts.length;
        const plus = parts.map((p, j) => (j === i ? '+' : p)).join('/');
        expect(topicMatches(parseTopicPattern(plus), t)).toBe(true);
        expect(topicMatches(parseTopicPattern([...parts.slice(0, i), '#'].join('/')), t)).toBe(true);
        expect(topicMatches(parseTopicPattern(`${t}/+`), t)).toBe(false);
      }),
    );
  });

  it('parsing any string either gives a pattern or a TopicPatternError', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (text) => {
        try {
          const p = parseTopicPattern(text);
          expect(parseTopicPattern(p.text)).toEqual(p);
          expect(p.segments.every((s) => s !== '' && (s === '+' || s === '#' || !/[+#]/.test(s)))).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(TopicPatternError);
        }
      }),
    );
  });

  it('refuses misplaced wildcards and empty segments', () => {
    for (const bad of ['', 'a//b', '#/a', 'a/b+', 'a#', '/a', 'a/']) {
      expect(() => parseTopicPattern(bad), bad).toThrow(TopicPatternError);
    }
    expect(topicMatches(parseTopicPattern('plant-7/#'), 'plant-7')).toBe(true);
    expect(topicMatches(parseTopicPattern('#'), 'x/y/z')).toBe(true);
    expect(topicMatches(parseTopicPattern('+/temp'), 'plant-7/boiler/temp')).toBe(false);
  });
});
