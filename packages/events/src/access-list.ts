// Per-topic access lists (PROFILE.md "Security"): who may create, publish, subscribe, watch and remove,
// by authenticated identity and topic pattern. Pure: parsing and matching; the file and its reloads are
// the services' business. Format, one rule a line, first match wins:
//   allow|deny  <identity|*>  <action[,action…]|*>  <topic-pattern>
// Blank lines and lines starting with '#' are comments. `*` as identity matches anyone, including an
// unauthenticated request (no identity); a name matches only that authenticated digest username.
import { parseTopicPattern, type TopicPattern, TopicPatternError, topicMatches } from './topic-pattern.js';

export const ACCESS_ACTIONS = ['create', 'publish', 'subscribe', 'watch', 'remove'] as const;
export type AccessAction = (typeof ACCESS_ACTIONS)[number];
export type AccessEffect = 'allow' | 'deny';

export interface AccessRule {
  effect: AccessEffect;
  /** A digest username, or '*' for anyone. */
  identity: string;
  actions: ReadonlySet<AccessAction>;
  pattern: TopicPattern;
  /** 1-based line in the source, for logs. */
  line: number;
}

/** A line that is not a rule; `line` is 1-based. */
export class AccessListSyntaxError extends Error {
  override readonly name = 'AccessListSyntaxError';
  constructor(
    readonly source: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${source} line ${line}: ${detail}`);
  }
}

export function parseAccessList(text: string, source = 'access list'): AccessRule[] {
  const rules: AccessRule[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const fail = (detail: string) => new AccessListSyntaxError(source, line, detail);
    const fields = trimmed.split(/\s+/);
    if (fields.length !== 4)
      throw fail(
        `expected 'allow|deny <identity|*> <actions|*> <topic-pattern>', got ${fields.length} fields`,
      );
    const [effect, identity, actionList, patternText] = fields;
    if (effect !== 'allow' && effect !== 'deny') throw fail(`expected allow or deny, got '${effect}'`);
    const actions = new Set<AccessAction>();
    for (const action of actionList.split(',')) {
      if (action === '*') for (const a of ACCESS_ACTIONS) actions.add(a);
      else if ((ACCESS_ACTIONS as readonly string[]).includes(action)) actions.add(action as AccessAction);
      else throw fail(`unknown action '${action}' (expected ${ACCESS_ACTIONS.join(', ')} or *)`);
    }
    let pattern: TopicPattern;
    try {
      pattern = parseTopicPattern(patternText);
    } catch (err) {
      if (err instanceof TopicPatternError) throw fail(err.message);
      throw err;
    }
    rules.push({ effect, identity, actions, pattern, line });
  });
  return rules;
}

export interface AccessDecision {
  allowed: boolean;
  /** The rule that decided; absent when the default did. */
  rule?: AccessRule;
}

export class AccessList {
  constructor(
    readonly rules: readonly AccessRule[],
    /** The verdict when no rule matches. */
    readonly defaultEffect: AccessEffect,
  ) {}

  /** Allows everything: what the broker does without an access list. */
  static readonly OPEN = new AccessList([], 'allow');

  /** `identity` is the authenticated username, or '' when the request was not authenticated. */
  decide(identity: string, action: AccessAction, topic: string): AccessDecision {
    for (const rule of this.rules) {
      if (rule.identity !== '*' && (identity === '' || rule.identity !== identity)) continue;
      if (!rule.actions.has(action) || !topicMatches(rule.pattern, topic)) continue;
      return { allowed: rule.effect === 'allow', rule };
    }
    return { allowed: this.defaultEffect === 'allow' };
  }

  allows(identity: string, action: AccessAction, topic: string): boolean {
    return this.decide(identity, action, topic).allowed;
  }
}

/** Reason phrase of the 403 for a refused action (PROFILE.md: say what was refused). */
export function accessRefusalReason(action: AccessAction): string {
  const what: Record<AccessAction, string> = {
    create: 'Not Allowed To Create This Topic',
    publish: 'Not Allowed To Publish To This Topic',
    subscribe: 'Not Allowed To Subscribe To This Topic',
    watch: 'Not Allowed To Watch This Topic',
    remove: 'Not Allowed To Remove Participants Of This Topic',
  };
  return what[action];
}
