import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACCESS_ACTIONS,
  type AccessAction,
  AccessList,
  AccessListSyntaxError,
  parseAccessList,
} from './access-list.js';
import { parseTopicPattern, topicMatches } from './topic-pattern.js';

const identity = fc.constantFrom('alice', 'bob', 'carol', '*');
const action = fc.constantFrom(...ACCESS_ACTIONS);
const actions = fc.uniqueArray(action, { minLength: 1, maxLength: 5 });
const segment = fc.constantFrom('a', 'b', 'plant-7', 'temp');
const pattern = fc
  .tuple(fc.array(fc.oneof(segment, fc.constant('+')), { maxLength: 3 }), fc.boolean())
  .filter(([s, hash]) => s.length > 0 || hash)
  .map(([s, hash]) => (hash ? [...s, '#'] : s).join('/'));
const rule = fc.record({
  effect: fc.constantFrom('allow' as const, 'deny' as const),
  identity,
  actions,
  pattern,
});
type RuleSpec = { effect: 'allow' | 'deny'; identity: string; actions: AccessAction[]; pattern: string };
const format = (r: RuleSpec) => `${r.effect} ${r.identity} ${r.actions.join(',')} ${r.pattern}`;
const topic = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));

describe('parseAccessList', () => {
  it('reads back the rules it is given, with comments and blank lines between them', () => {
    fc.assert(
      fc.property(
        fc.array(rule, { maxLength: 8 }),
        fc.array(fc.constantFrom('', '# note', '  \t'), { maxLength: 8 }),
        (rules, noise) => {
          const lines: string[] = [];
          rules.forEach((r, i) => {
            if (noise[i] !== undefined) lines.push(noise[i]);
            lines.push(`  ${format(r).replace(/ /g, '\t ')}  `);
          });
          const parsed = parseAccessList(lines.join('\n'));
          expect(
            parsed.map((p) => ({
              effect: p.effect,
              identity: p.identity,
              actions: [...p.actions].sort(),
              pattern: p.pattern.text,
            })),
          ).toEqual(rules.map((r) => ({ ...r, actions: [...r.actions].sort() })));
          for (const p of parsed) expect(lines[p.line - 1].trim().startsWith(p.effect)).toBe(true);
        },
      ),
    );
  });

  it('names the first bad line and never throws anything else', () => {
    fc.assert(
      fc.property(
        fc.array(rule, { maxLength: 5 }),
        fc.string({ maxLength: 40 }).filter((s) => !s.includes('\n') && !s.includes('\r')),
        fc.array(rule, { maxLength: 3 }),
        (before, junk, after) => {
          const text = [...before.map(format), junk, ...after.map(format)].join('\n');
          try {
            parseAccessList(text, 'acl.txt');
          } catch (err) {
            expect(err).toBeInstanceOf(AccessListSyntaxError);
            expect((err as AccessListSyntaxError).line).toBe(before.length + 1);
            expect((err as Error).message).toMatch(new RegExp(`^acl\\.txt line ${before.length + 1}: `));
          }
        },
      ),
    );
  });

  it('says what is wrong', () => {
    const line = (text: string) => () => parseAccessList(`allow * * #\n${text}`, 'f');
    expect(line('permit * * #')).toThrow("f line 2: expected allow or deny, got 'permit'");
    expect(line('allow * read #')).toThrow(/f line 2: unknown action 'read'/);
    expect(line('allow * create')).toThrow(/f line 2: expected 'allow\|deny/);
    expect(line('allow * create a/#/b')).toThrow(/f line 2: '#' must be the last segment/);
  });
});

describe('AccessList', () => {
  it('the first matching rule decides, else the default (against a reference)', () => {
    fc.assert(
      fc.property(
        fc.array(rule, { maxLength: 8 }),
        fc.constantFrom('allow' as const, 'deny' as const),
        fc.constantFrom('alice', 'bob', ''),
        action,
        topic,
        (rules, fallback, who, what, t) => {
          const acl = new AccessList(parseAccessList(rules.map(format).join('\n')), fallback);
          const first = rules.find(
            (r) =>
              (r.identity === '*' || (who !== '' && r.identity === who)) &&
              r.actions.includes(what) &&
              topicMatches(parseTopicPattern(r.pattern), t),
          );
          expect(acl.allows(who, what, t)).toBe((first?.effect ?? fallback) === 'allow');
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('a named rule never matches an unauthenticated request; * does', () => {
    const acl = new AccessList(parseAccessList('allow alice publish #\ndeny * publish #'), 'allow');
    expect(acl.allows('alice', 'publish', 'x')).toBe(true);
    expect(acl.allows('', 'publish', 'x')).toBe(false);
    expect(acl.decide('bob', 'publish', 'x').rule?.line).toBe(2);
    expect(AccessList.OPEN.allows('', 'remove', 'x')).toBe(true);
  });
});
