// Topic rules of PROFILE.md "Names and URIs": UTF-8, 1–256 bytes after trimming, '/'-separated
// segments, no empty segment, no '+' or '#' (reserved for wildcard watching), compared after NFC.

export type TopicCheck = { ok: true; topic: string } | { ok: false; reason: string };

const MAX_TOPIC_BYTES = 256;

export function normaliseTopic(subject: string | undefined): TopicCheck {
  if (subject === undefined) return { ok: false, reason: 'Missing Subject (the topic)' };
  const topic = subject.trim().normalize('NFC');
  if (topic.length === 0) return { ok: false, reason: 'Empty Subject (the topic)' };
  const bytes = Buffer.byteLength(topic, 'utf8');
  if (bytes > MAX_TOPIC_BYTES)
    return { ok: false, reason: `Topic too long (${bytes} bytes, at most ${MAX_TOPIC_BYTES})` };
  if (/[+#]/.test(topic)) return { ok: false, reason: "Topic must not contain '+' or '#'" };
  if (topic.split('/').some((segment) => segment.length === 0))
    return { ok: false, reason: 'Topic has an empty segment' };
  // Control characters cannot be carried in a header value safely.
  if (hasControlCharacter(topic)) return { ok: false, reason: 'Topic contains a control character' };
  return { ok: true, topic };
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
