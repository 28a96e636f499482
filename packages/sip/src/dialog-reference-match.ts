// Which dialog an INVITE's Replaces (RFC 3891 §3) or Join (RFC 3911 §4) header names, and what the
// recipient does about it. Pure: the caller looks its candidate dialogs up and acts on the verdict.
import { SipParseError } from './errors.js';
import { getHeaders } from './headers.js';
import type { SipRequest } from './message.js';
import { parseNameAddr } from './name-addr.js';
import { type DialogReference, parseDialogReference } from './replaces.js';

export type DialogReferenceHeader = 'Replaces' | 'Join';

/** A dialog of the recipient as the matcher needs it. */
export interface ReferencedDialog {
  callId: string;
  /** The recipient's own tag: compared with the header's to-tag (RFC 3891 §3, RFC 3911 §4). */
  localTag: string;
  /** The peer's tag: compared with the header's from-tag. */
  remoteTag: string;
  state: 'early' | 'confirmed' | 'terminated';
  /** True when the recipient sent the INVITE that created the dialog (an early UAC dialog). */
  initiatedLocally: boolean;
}

/** The dialog reference an INVITE carries, if any. */
export type DialogReferenceRequest =
  | { kind: 'none' }
  | { kind: 'refused'; status: number; reason: string }
  | { kind: 'reference'; header: DialogReferenceHeader; ref: DialogReference };

export type DialogReferenceVerdict<D extends ReferencedDialog> =
  | { kind: 'refused'; status: number; reason: string }
  | { kind: 'matched'; header: DialogReferenceHeader; dialog: D };

/**
 * Reads Replaces and Join from an INVITE. Both at once, or either twice, is 400 (RFC 3891 §3, RFC 3911
 * §4); in a mid-dialog INVITE both are ignored (they only mean something when creating a dialog).
 */
export function dialogReferenceOf(req: SipRequest): DialogReferenceRequest {
  if (req.method !== 'INVITE') return { kind: 'none' };
  if (parseNameAddr(getHeaders(req, 'To')[0] ?? '').params.tag != null) return { kind: 'none' };
  const replaces = getHeaders(req, 'Replaces');
  const join = getHeaders(req, 'Join');
  if (replaces.length > 0 && join.length > 0)
    return { kind: 'refused', status: 400, reason: 'Replaces and Join Together' };
  const header: DialogReferenceHeader = replaces.length > 0 ? 'Replaces' : 'Join';
  const values = replaces.length > 0 ? replaces : join;
  if (values.length === 0) return { kind: 'none' };
  if (values.length > 1) return { kind: 'refused', status: 400, reason: `More Than One ${header}` };
  try {
    return { kind: 'reference', header, ref: parseDialogReference(values[0], header) };
  } catch (err) {
    if (err instanceof SipParseError) return { kind: 'refused', status: 400, reason: err.message };
    throw err;
  }
}

/** Whether a dialog is the one the reference names: Call-ID, to-tag = our tag, from-tag = theirs. */
export function namesDialog(ref: DialogReference, dialog: ReferencedDialog): boolean {
  return dialog.callId === ref.callId && dialog.localTag === ref.toTag && dialog.remoteTag === ref.fromTag;
}

/**
 * The recipient's decision for a reference among its candidate dialogs (RFC 3891 §3, RFC 3911 §4):
 * no dialog 481; an ended one 603; Replaces with early-only naming a confirmed dialog 486; an early
 * dialog the recipient did not initiate 481 (it may only be replaced or joined by its own INVITE's peer).
 */
export function matchDialogReference<D extends ReferencedDialog>(
  header: DialogReferenceHeader,
  ref: DialogReference,
  candidates: readonly (D | null | undefined)[],
): DialogReferenceVerdict<D> {
  const dialog = candidates.find((d): d is D => d != null && namesDialog(ref, d));
  if (!dialog) return { kind: 'refused', status: 481, reason: `${header} Names No Dialog Here` };
  if (dialog.state === 'terminated') return { kind: 'refused', status: 603, reason: 'Declined' };
  if (dialog.state === 'early' && !dialog.initiatedLocally)
    return { kind: 'refused', status: 481, reason: `${header} Names an Early Dialog We Did Not Initiate` };
  if (header === 'Replaces' && ref.earlyOnly && dialog.state === 'confirmed')
    return { kind: 'refused', status: 486, reason: 'Busy Here' };
  return { kind: 'matched', header, dialog };
}
