import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopicFilterIndex } from './topic-filter-index.js';
import { parseTopicPattern, TopicPatternError, topicMatches } from './topic-pattern.js';

// Small alphabets so random topics and filters overlap often: a tree of topics over a few segment names.
const segment = fc.constantFrom('plant-7', 'plant-8', 'boiler', 'temp', 'pump', 'x', 'é');
const topic = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('/'));
const filter = fc
  .tuple(fc.array(fc.oneof(segment, fc.constant('+')), { minLength: 0, maxLength: 5 }), fc.boolean())
  .filter(([segments, hash]) => segments.length > 0 || hash)
  .map(([segments, hash]) => [...segments, ...(hash ? ['#'] : [])].join('/'));

describe('TopicFilterIndex', () => {
  it('agrees with the brute-force matcher on random topic trees and filter sets (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(filter, { minLength: 1, maxLength: 30 }),
        fc.array(topic, { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (filters, topics, removals) => {
          const index = new TopicFilterIndex<number>();
          filters.forEach((f, id) => {
            index.add(id, f);
          });
          const removed = new Set(removals.map((r) => r % filters.length));
          for (const id of removed) expect(index.remove(id)).toBe(true);
          for (const t of topics) {
            const expected = filters
              .map((f, id) => [f, id] as const)
              .filter(([f, id]) => !removed.has(id) && topicMatches(parseTopicPattern(f), t))
              .map(([, id]) => id)
              .sort((a, b) => a - b);
            expect([...index.match(t)].sort((a, b) => a - b)).toEqual(expected);
          }
          expect(index.size).toBe(filters.length - removed.size);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('matches the examples of PROFILE "Wildcard watching"', () => {
    const index = new TopicFilterIndex<string>();
    index.add('one', 'plant-7/+/temp');
    index.add('all', 'plant-7/#');
    index.add('exact', 'plant-7/boiler/temp');
    expect(index.match('plant-7/boiler/temp')).toEqual(new Set(['one', 'all', 'exact']));
    expect(index.match('plant-7/pump/temp')).toEqual(new Set(['one', 'all']));
    expect(index.match('plant-7/boiler/temp/raw')).toEqual(new Set(['all']));
    expect(index.match('plant-7')).toEqual(new Set(['all']));
    expect(index.match('plant-8/boiler/temp')).toEqual(new Set());
  });

  it('moves a filter that is added again, forgets removed ones and refuses malformed patterns', () => {
    const index = new TopicFilterIndex<string>();
    index.add('a', 'plant-7/#');
    index.add('a', 'plant-8/+');
    expect(index.match('plant-7/x')).toEqual(new Set());
    expect(index.match('plant-8/x')).toEqual(new Set(['a']));
    expect(index.remove('a')).toBe(true);
    expect(index.remove('a')).toBe(false);
    expect(index.match('plant-8/x')).toEqual(new Set());
    expect(() => index.add('b', 'plant/#/x')).toThrow(TopicPatternError);
    expect(() => index.add('b', 'plant/te+mp')).toThrow(TopicPatternError);
    expect(index.size).toBe(0);
  });
});
