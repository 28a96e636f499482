import { SipParseError } from './errors.js';
import { formatParams, isToken, parseParams } from './header-values.js';
import { clip } from './uri.js';

export interface SubscriptionState {
  /** `active`, `pending`, `terminated` (or an extension value), lower-cased. */
  state: string;
  expires?: number;
  reason?: string;
  retryAfter?: number;
  params: Record<string, string | null>;
}

/** RFC 6665 §8.2.3 Subscription-State: `active;expires=600`, `terminated;reason=timeout;retry-after=30`. */
export function parseSubscriptionState(text: string): SubscriptionState {
  const bad = () => new SipParseError(400, `Malformed Subscription-State: ${clip(text)}`);
  const semi = text.indexOf(';');
  const state = (semi < 0 ? text : text.slice(0, semi)).trim();
  const params = parseParams(semi < 0 ? '' : text.slice(semi));
  if (!isToken(state) || params === undefined) throw bad();
  const result: SubscriptionState = { state: state.toLowerCase(), params };
  const seconds = (value: string | null | undefined): number | undefined => {
    if (value === undefined) return undefined;
    if (value === null || !/^\d{1,10}$/.test(value)) throw bad();
    return Number(value);
  };
  const expires = seconds(params.expires);
  if (expires !== undefined) result.expires = expires;
  const retryAfter = seconds(params['retry-after']);
  if (retryAfter !== undefined) result.retryAfter = retryAfter;
  if (typeof params.reason === 'string') result.reason = params.reason.toLowerCase();
  return result;
}

export function formatSubscriptionState(value: SubscriptionState): string {
  const params = { ...value.params };
  if (value.expires !== undefined) params.expires = String(value.expires);
  if (value.reason !== undefined) params.reason = value.reason;
  if (value.retryAfter !== undefined) params['retry-after'] = String(value.retryAfter);
  return `${value.state}${formatParams(params)}`;
}
