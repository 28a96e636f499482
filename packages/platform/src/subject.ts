/** A subject or subscription pattern that NATS would reject. */
export class InvalidSubjectError extends Error {
  override readonly name = 'InvalidSubjectError';
  constructor(
    readonly subject: string,
    reason: string,
  ) {
    super(`invalid subject ${JSON.stringify(subject)}: ${reason}`);
  }
}

// Token characters NATS refuses: whitespace and control characters.
function hasBadCharacter(token: string): boolean {
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return /\s/.test(token);
}

/**
 * Checks NATS subject syntax: non-empty '.'-separated tokens; with `wildcards`, a token may be
 * exactly '*' (one token) or a final '>' (one or more tokens).
 */
export function assertValidSubject(subject: string, wildcards: boolean): void {
  if (subject.length === 0) throw new InvalidSubjectError(subject, 'empty');
  const tokens = subject.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.length === 0) throw new InvalidSubjectError(subject, 'empty token');
    if (hasBadCharacter(token)) throw new InvalidSubjectError(subject, 'whitespace or control character');
    if (token === '*' || token === '>') {
      if (!wildcards) throw new InvalidSubjectError(subject, 'wildcards are only allowed when subscribing');
      if (token === '>' && i !== tokens.length - 1)
        throw new InvalidSubjectError(subject, "'>' must be the last token");
    } else if (token.includes('*') || token.includes('>')) {
      throw new InvalidSubjectError(subject, 'a wildcard must be a whole token');
    }
  }
}

export function hasWildcard(pattern: string): boolean {
  return pattern.split('.').some((t) => t === '*' || t === '>');
}

/** Whether a published subject matches a subscription pattern (both assumed valid). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
