import { SipParseError } from './errors.js';
import { formatParams, parseParams } from './header-values.js';
import { clip } from './uri.js';

/** Replaces (RFC 3891 §6.1) and Join (RFC 3911 §7.1) share one shape: a dialog named by Call-ID and tags. */
export interface DialogReference {
  callId: string;
  toTag: string;
  fromTag: string;
  /** Replaces only: the target must still be early. */
  earlyOnly: boolean;
  params: Record<string, string | null>;
}

/** `callid;to-tag=x;from-tag=y[;early-only]`; both tags are required. `header` names the field in errors. */
export function parseDialogReference(
  text: string,
  header: 'Replaces' | 'Join' = 'Replaces',
): DialogReference {
  const bad = (why: string) => new SipParseError(400, `Malformed ${header} (${why}): ${clip(text)}`);
  const semi = text.indexOf(';');
  const callId = (semi < 0 ? text : text.slice(0, semi)).trim();
  if (!/^[^\s;]+$/.test(callId)) throw bad('call-id');
  const params = parseParams(semi < 0 ? '' : text.slice(semi));
  if (params === undefined) throw bad('parameters');
  const toTag = params['to-tag'];
  const fromTag = params['from-tag'];
  if (typeof toTag !== 'string') throw bad('to-tag');
  if (typeof fromTag !== 'string') throw bad('from-tag');
  return { callId, toTag, fromTag, earlyOnly: 'early-only' in params, params };
}

export function formatDialogReference(ref: DialogReference): string {
  const params: Record<string, string | null> = {
    ...ref.params,
    'to-tag': ref.toTag,
    'from-tag': ref.fromTag,
  };
  if (ref.earlyOnly) params['early-only'] = null;
  else delete params['early-only'];
  return `${ref.callId}${formatParams(params)}`;
}
