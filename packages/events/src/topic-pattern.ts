// Topic patterns (PROFILE.md "Wildcard watching", access lists): '/'-separated segments where '+' is
// exactly one segment and '#', only as the last segment, the rest of the topic (zero or more segments,
// so `plant-7/#` covers `plant-7` itself, as in MQTT). Compared after NFC, like topics.

export class TopicPatternError extends Error {
  override readonly name = 'TopicPatternError';
}

export interface TopicPattern {
  /** The pattern as written, NFC-normalised. */
  readonly text: string;
  readonly segments: readonly string[];
}

export function parseTopicPattern(text: string): TopicPattern {
  const normalised = text.trim().normalize('NFC');
  if (normalised === '') throw new TopicPatternError('empty topic pattern');
  const segments = normalised.split('/');
  segments.forEach((segment, i) => {
    if (segment === '') throw new TopicPatternError(`empty segment in topic pattern '${normalised}'`);
    if (segment === '#' && i !== segments.length - 1)
      throw new TopicPatternError(`'#' must be the last segment of topic pattern '${normalised}'`);
    if (segment !== '+' && segment !== '#' && /[+#]/.test(segment))
      throw new TopicPatternError(`'+' and '#' must be whole segments in topic pattern '${normalised}'`);
  });
  return { text: normalised, segments };
}

/** Whether `topic` (already normalised, as the focus keeps it) is covered by `pattern`. */
export function topicMatches(pattern: TopicPattern, topic: string): boolean {
  const parts = topic.normalize('NFC').split('/');
  const { segments } = pattern;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === '#') return true;
    if (i >= parts.length) return false;
    if (segment !== '+' && segment !== parts[i]) return false;
  }
  return parts.length === segments.length;
}
