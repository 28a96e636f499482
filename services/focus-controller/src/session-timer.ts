// RFC 4028 session timers, the focus's side as UAS of a participant's INVITE, re-INVITE or UPDATE.
// The §9 table decides who refreshes: the participant (refresher=uac: it must support `timer`; the focus
// BYEs when no refresh comes), or the focus (refresher=uas: it sends UPDATE at half the interval and ends
// the dialog when the refresh fails). The focus refreshes only with UPDATE, so it takes refresher=uas only
// from a peer whose Allow lists UPDATE; otherwise that dialog gets no session timer.
import {
  formatSessionExpires,
  getHeader,
  getHeaders,
  type HeaderField,
  parseMinSE,
  parseSessionExpires,
  parseTokenList,
  type Refresher,
  type SipRequest,
} from '@sip-pubsub/sip';

export interface SessionTimerPolicy {
  /** Our Min-SE in seconds: a requested interval below it gets 422 (RFC 4028 recommends 90 or more). */
  minSeconds: number;
  /** The interval the focus asks for when the caller supports timers without asking, and its cap; 0 = never ask. */
  preferredSeconds: number;
}

export type SessionTimerDecision =
  /** No session timer on this dialog (from this request on). */
  | { kind: 'none' }
  /** §9: 422 Session Interval Too Small, with our Min-SE. */
  | { kind: 'too-small'; minSeconds: number }
  | { kind: 'use'; seconds: number; refresher: Refresher };

function optionTags(req: SipRequest, name: 'Supported' | 'Require'): string[] {
  return parseTokenList(getHeaders(req, name), name).map((t) => t.toLowerCase());
}

/**
 * What the 2xx to `req` says about the session timer. Throws SipParseError on a malformed
 * Session-Expires or Min-SE (the edge refuses those first).
 */
export function decideSessionTimer(req: SipRequest, policy: SessionTimerPolicy): SessionTimerDecision {
  const supported = [...optionTags(req, 'Supported'), ...optionTags(req, 'Require')].includes('timer');
  const seHeader = getHeader(req, 'Session-Expires');
  const minSeHeader = getHeader(req, 'Min-SE');
  const requested = seHeader === undefined ? undefined : parseSessionExpires(seHeader);
  const theirMin = minSeHeader === undefined ? 0 : parseMinSE(minSeHeader);
  const canRefresh = parseTokenList(getHeaders(req, 'Allow'), 'Allow').some(
    (m) => m.toUpperCase() === 'UPDATE',
  );
  if (requested) {
    // §9: 422 only to a caller that supports timers (it can retry). Without support the focus would have
    // to refresh that often itself: it runs no timer rather than be made to send UPDATEs at any rate.
    if (requested.seconds < policy.minSeconds)
      return supported ? { kind: 'too-small', minSeconds: policy.minSeconds } : { kind: 'none' };
    // §9: the UAS may lower the interval (never below the request's Min-SE, nor ours), never raise it.
    let seconds = requested.seconds;
    if (policy.preferredSeconds > 0 && seconds > policy.preferredSeconds)
      seconds = Math.min(requested.seconds, Math.max(policy.preferredSeconds, theirMin, policy.minSeconds));
    // §9 table: no support → uas; support with a refresher → that one; support without → our choice (uac).
    const refresher: Refresher = !supported ? 'uas' : (requested.refresher ?? 'uac');
    if (refresher === 'uas' && !canRefresh) return { kind: 'none' };
    return { kind: 'use', seconds, refresher };
  }
  // §9: the caller supports timers but asks for none; we may ask for one, it refreshes.
  if (!supported || policy.preferredSeconds === 0) return { kind: 'none' };
  return {
    kind: 'use',
    seconds: Math.max(policy.preferredSeconds, theirMin, policy.minSeconds),
    refresher: 'uac',
  };
}

/** Headers of the 2xx for a session timer in use: Session-Expires, and Require: timer for refresher=uac (§9). */
export function sessionTimerHeaders(decision: SessionTimerDecision): HeaderField[] {
  if (decision.kind !== 'use') return [];
  const headers: HeaderField[] = [{ name: 'Session-Expires', value: formatSessionExpires(decision) }];
  if (decision.refresher === 'uac') headers.push({ name: 'Require', value: 'timer' });
  return headers;
}

/** §10: the refresher refreshes at half the interval. Milliseconds after the last refresh. */
export function sessionRefreshMs(seconds: number): number {
  return (seconds * 1_000) / 2;
}

/**
 * §10: the side that does not refresh sends BYE shortly before the session expires if no refresh came:
 * min(32 s, interval / 3) before it. Milliseconds after the last refresh.
 */
export function sessionDeadlineMs(seconds: number): number {
  return (seconds - Math.min(32, seconds / 3)) * 1_000;
}
