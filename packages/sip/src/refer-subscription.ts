// The REFER recipient's side of RFC 3515 with RFC 4488: what a REFER to a conference asks for, whether
// it makes an implicit `refer` subscription, and the NOTIFYs that report the referred request's
// progress as message/sipfrag (RFC 3420). Plain JSON snapshots (so a replica can store them and another
// finish the job); every move returns a new snapshot and the NOTIFY it calls for; illegal moves throw.

import { reasonPhrase } from './reason-phrase.js';
import type { ReferTo } from './refer-to.js';
import { uriEquals } from './uri-equality.js';

export class ReferStateError extends Error {
  override readonly name = 'ReferStateError';
}

/** What a REFER to a conference URI asks the focus to do (RFC 4579 §5.6, §5.11). */
export type Referral =
  | { kind: 'dial-out'; target: string }
  | { kind: 'remove'; target: string }
  | { kind: 'terminate' }
  | { kind: 'refused'; status: number; reason: string };

/** Reads a parsed Refer-To sent to `conferenceUri`: dial out, remove a participant, or end the conference. */
export function referralOf(referTo: ReferTo, conferenceUri: string): Referral {
  if (Object.keys(referTo.uriHeaders).length > 0)
    return { kind: 'refused', status: 400, reason: 'Refer-To URI headers are not supported' };
  const self = uriEquals(referTo.target, conferenceUri);
  if (referTo.method === 'BYE')
    return self ? { kind: 'terminate' } : { kind: 'remove', target: referTo.target };
  if (referTo.method !== 'INVITE')
    return { kind: 'refused', status: 400, reason: `Refer-To method ${referTo.method} is not supported` };
  if (self) return { kind: 'refused', status: 400, reason: 'Refer-To names the conference itself' };
  return { kind: 'dial-out', target: referTo.target };
}

export type ReferStatus = 'active' | 'terminated';

export interface ReferSnapshot {
  /** The REFER's CSeq number: the `id` of its `refer` event (RFC 3515 §2.4.6). */
  eventId: number;
  /** false: `Refer-Sub: false` was honoured (RFC 4488 §4), no subscription and no NOTIFY. */
  subscribed: boolean;
  status: ReferStatus;
  /** Clock time (ms) at which the implicit subscription lapses. */
  expiresAt: number;
  /** Status code of the last report (0 before any). */
  lastStatus: number;
  lastReason: string;
  /** NOTIFYs called for so far. */
  notifies: number;
  /** Why the subscription ended (RFC 6665 §4.1.3 reason codes). */
  reason?: 'noresource' | 'timeout' | 'giveup';
}

/** One NOTIFY of the implicit subscription, ready to be put in a request. */
export interface ReferNotify {
  event: string;
  subscriptionState: string;
  contentType: string;
  body: string;
}

export interface ReferAcceptance {
  snapshot: ReferSnapshot;
  /** Headers of the 202 besides the usual ones (RFC 4488 §4: `Refer-Sub: false` when honoured). */
  headers: { name: string; value: string }[];
  /** The first NOTIFY (`SIP/2.0 100 Trying`, RFC 3515 §2.4.5), absent without a subscription. */
  notify?: ReferNotify;
}

export const SIPFRAG_CONTENT_TYPE = 'message/sipfrag;version=2.0';
/** How long the implicit subscription lasts when nothing ends it earlier (the notifier's choice, §2.4.4). */
export const DEFAULT_REFER_EXPIRES_S = 60;

/** A REFER accepted with 202; `referSub` is its Refer-Sub value (undefined: no header = true). */
export function acceptRefer(init: {
  cseq: number;
  referSub: boolean | undefined;
  now: number;
  expiresSeconds?: number;
}): ReferAcceptance {
  const subscribed = init.referSub !== false;
  const snapshot: ReferSnapshot = {
    eventId: init.cseq,
    subscribed,
    status: subscribed ? 'active' : 'terminated',
    expiresAt: init.now + (init.expiresSeconds ?? DEFAULT_REFER_EXPIRES_S) * 1000,
    lastStatus: 0,
    lastReason: '',
    notifies: 0,
  };
  if (!subscribed) return { snapshot, headers: [{ name: 'Refer-Sub', value: 'false' }] };
  const first = reportReferProgress(snapshot, 100, 'Trying', init.now);
  return { snapshot: first.snapshot, headers: [], notify: first.notify };
}

/**
 * A response to the referred request: a provisional one keeps the subscription active, a final one
 * ends it with reason=noresource (RFC 3515 §2.4.5, PROFILE.md "REFER"). Without a subscription, or after
 * it ended, the outcome is only recorded.
 */
export function reportReferProgress(
  s: ReferSnapshot,
  status: number,
  reason: string | undefined,
  now: number,
): { snapshot: ReferSnapshot; notify?: ReferNotify } {
  if (!Number.isInteger(status) || status < 100 || status > 699)
    throw new ReferStateError(`status ${status} is not a SIP status code`);
  if (s.lastStatus >= 200) throw new ReferStateError(`refer ${s.eventId} already has a final status`);
  const phrase = (reason ?? '').trim() || reasonPhrase(status);
  const recorded = { ...s, lastStatus: status, lastReason: phrase };
  if (s.status === 'terminated') return { snapshot: recorded };
  if (status < 200) {
    // A repeat of the same provisional status says nothing new: no NOTIFY for it.
    if (s.lastStatus === status) return { snapshot: recorded };
    const seconds = Math.max(0, Math.ceil((s.expiresAt - now) / 1000));
    return {
      snapshot: { ...recorded, notifies: s.notifies + 1 },
      notify: notifyOf(s.eventId, `active;expires=${seconds}`, status, phrase),
    };
  }
  return {
    snapshot: { ...recorded, status: 'terminated', reason: 'noresource', notifies: s.notifies + 1 },
    notify: notifyOf(s.eventId, 'terminated;reason=noresource', status, phrase),
  };
}

/** The subscription's time ran out before a final status: a last NOTIFY with reason=timeout (RFC 6665 §4.2.2). */
export function expireRefer(
  s: ReferSnapshot,
  now: number,
): { snapshot: ReferSnapshot; notify?: ReferNotify } {
  if (s.status === 'terminated' || now < s.expiresAt) return { snapshot: s };
  return {
    snapshot: { ...s, status: 'terminated', reason: 'timeout', notifies: s.notifies + 1 },
    notify: notifyOf(s.eventId, 'terminated;reason=timeout', s.lastStatus || 100, s.lastReason || 'Trying'),
  };
}

/**
 * A NOTIFY was answered 481 or timed out: the subscription is gone (RFC 6665 §4.2.2), though the
 * referred request goes on and its outcome is still recorded.
 */
export function referNotifyFailed(s: ReferSnapshot): ReferSnapshot {
  if (s.status === 'terminated') return s;
  return { ...s, status: 'terminated', reason: 'giveup' };
}

function notifyOf(eventId: number, subscriptionState: string, status: number, phrase: string): ReferNotify {
  return {
    event: `refer;id=${eventId}`,
    subscriptionState,
    contentType: SIPFRAG_CONTENT_TYPE,
    // RFC 3420: a status line alone is a complete sipfrag.
    body: `SIP/2.0 ${status} ${phrase.replace(/[\r\n]/g, ' ')}\r\n`,
  };
}
