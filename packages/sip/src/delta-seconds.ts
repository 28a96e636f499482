import { SipParseError } from './errors.js';
import { parseParams } from './header-values.js';
import { clip } from './uri.js';

/** Largest delta-seconds we accept: 2**32-1 (RFC 3261 §20.19 sets no bound; 32 bits is what peers store). */
export const MAX_DELTA_SECONDS = 0xffffffff;

/** Expires, Min-Expires (RFC 3261 §20.19, §20.23): `1*DIGIT`, at most 2**32-1. */
export function parseDeltaSeconds(text: string, header = 'delta-seconds'): number {
  const value = text.trim();
  if (!/^\d{1,10}$/.test(value)) throw new SipParseError(400, `Malformed ${header}: ${clip(text)}`);
  const seconds = Number(value);
  if (seconds > MAX_DELTA_SECONDS) throw new SipParseError(400, `${header} out of range: ${clip(value)}`);
  return seconds;
}

export interface RetryAfter {
  seconds: number;
  comment?: string;
  duration?: number;
  params: Record<string, string | null>;
}

/** RFC 3261 §20.33 Retry-After: `delta-seconds [comment] *(;retry-param)`, e.g. `120 (I'm busy);duration=60`. */
export function parseRetryAfter(text: string): RetryAfter {
  const bad = () => new SipParseError(400, `Malformed Retry-After: ${clip(text)}`);
  const match = /^\s*(\d+)\s*(\([^)]*\))?\s*(;.*)?$/s.exec(text);
  if (!match) throw bad();
  const result: RetryAfter = { seconds: parseDeltaSeconds(match[1], 'Retry-After'), params: {} };
  if (match[2] !== undefined) result.comment = match[2].slice(1, -1);
  const params = parseParams(match[3] ?? '');
  if (params === undefined) throw bad();
  result.params = params;
  if (params.duration !== undefined) {
    if (params.duration === null) throw bad();
    result.duration = parseDeltaSeconds(params.duration, 'Retry-After duration');
  }
  return result;
}
