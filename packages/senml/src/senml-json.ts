// SenML JSON representation (RFC 8428 §5) and its framing as one T.140 line (PROFILE "Media").

import { SenmlError } from './senml-error.js';
import { DEFAULT_MAX_PACK_BYTES, type SenmlLimits, type SenmlPack } from './senml-record.js';
import { validatePack } from './validate-pack.js';

export const LINE_SEPARATOR = '\u2028';

/** Parses and validates application/senml+json. Throws SenmlError. */
export function parseSenmlJson(text: string, limits: SenmlLimits = {}): SenmlPack {
  const maxBytes = limits.maxPackBytes ?? DEFAULT_MAX_PACK_BYTES;
  // UTF-8 needs at least one byte per UTF-16 unit: skip the exact count when the text is clearly short.
  if (text.length > maxBytes / 3) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxBytes) throw new SenmlError(`pack of ${bytes} bytes exceeds the limit of ${maxBytes}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SenmlError(`not valid JSON: ${(err as Error).message}`);
  }
  validatePack(value, limits);
  return value;
}

/**
 * One publication as a T.140 line: the JSON pack followed by U+2028. Characters with a meaning in
 * the framing (U+2028, U+2029, U+FFFD, U+FEFF) can only occur inside strings and are escaped there.
 */
export function formatPackLine(pack: SenmlPack): string {
  return JSON.stringify(pack).replace(/[\u2028\u2029\uFFFD\uFEFF]/g, escapeChar) + LINE_SEPARATOR;
}

function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
