// RFC 3261 §13.3.1.4 at the edge: a 2xx to an INVITE that is retransmitted for 64*T1 without an ACK
// ends the dialog ("the session SHOULD be terminated ... with a BYE"). The transaction layer says when
// that happens (onAckTimeout, by Call-ID and CSeq); this remembers, for each 2xx the edge sent for a
// focus-answered INVITE, which dialog and which conference it belonged to, and tells the conference's
// owner over gRPC (FocusController.DialogFailed) so it sends the BYE and frees the relay leg.
import { classifyUri } from '@sip-pubsub/events';
import type { Logger } from '@sip-pubsub/platform';
import { unary } from '@sip-pubsub/platform';
import type { DialogFailure, DialogFailureResult__Output, FocusControllerClient } from '@sip-pubsub/proto';
import { getHeader, parseCSeq, parseNameAddr, type SipRequest, type SipResponse } from '@sip-pubsub/sip';

export interface AcceptedDialog {
  callId: string;
  /** The owner's tag (To of its 2xx) and the caller's (From of the INVITE). */
  localTag: string;
  remoteTag: string;
  cseq: number;
  routingKey: string;
}

interface Entry {
  dialog: AcceptedDialog;
  at: number;
}

const keyOf = (callId: string, cseq: number) => `${callId}\n${cseq}`;

/**
 * The dialogs of the 2xx responses sent for INVITEs, by Call-ID and CSeq, each kept a while longer
 * than the 64*T1 the transaction layer waits for its ACK. ACKed ones simply age out; the map is also
 * capped, oldest first, so a flood of INVITEs cannot grow it without bound.
 */
export class AcceptedInvites {
  private readonly entries = new Map<string, Entry>();

  constructor(
    /** 64*T1: how long the transaction layer waits for the ACK. */
    private readonly ackWindowMs: number,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Notes `res` sent for `req`; anything but a 2xx to an INVITE with both tags is ignored. */
  note(req: SipRequest, res: SipResponse, routingKey: string): void {
    const dialog = acceptedDialogOf(req, res, routingKey);
    if (!dialog) return;
    this.prune();
    const key = keyOf(dialog.callId, dialog.cseq);
    this.entries.delete(key); // re-inserted last, so the map stays in age order
    this.entries.set(key, { dialog, at: this.now() });
  }

  /** The dialog whose 2xx (Call-ID, CSeq) got no ACK, forgotten here; undefined when unknown. */
  take(callId: string, cseq: number): AcceptedDialog | undefined {
    const key = keyOf(callId, cseq);
    const entry = this.entries.get(key);
    this.entries.delete(key);
    return entry?.dialog;
  }

  private prune(): void {
    // Twice the window: the layer's timer fires at 64*T1 after the first 2xx, always within it.
    const oldest = this.now() - 2 * this.ackWindowMs;
    for (const [key, entry] of this.entries) {
      if (entry.at >= oldest && this.entries.size < this.maxEntries) break;
      this.entries.delete(key);
    }
  }
}

/** The dialog a 2xx to an INVITE created or confirmed; undefined for any other response, or one without tags. */
export function acceptedDialogOf(
  req: SipRequest,
  res: SipResponse,
  routingKey: string,
): AcceptedDialog | undefined {
  if (req.method !== 'INVITE' || res.status < 200 || res.status >= 300) return undefined;
  try {
    const callId = getHeader(res, 'Call-ID');
    const remoteTag = parseNameAddr(getHeader(res, 'From') ?? '').params.tag;
    const localTag = parseNameAddr(getHeader(res, 'To') ?? '').params.tag;
    const cseq = parseCSeq(getHeader(res, 'CSeq') ?? '').seq;
    if (!callId || !remoteTag || !localTag) return undefined;
    // FACTORY_MODE=join: a 2xx to the factory belongs to the conference its Contact names.
    const contact = routingKey === 'factory' ? getHeader(res, 'Contact') : undefined;
    const target = contact ? classifyUri(parseNameAddr(contact).uri) : undefined;
    const key = target?.kind === 'conference' ? target.conferenceId : routingKey;
    return { callId, localTag, remoteTag, cseq, routingKey: key };
  } catch {
    return undefined; // the owner wrote this response; one we cannot read has no dialog to end
  }
}

/**
 * The dialog a new INVITE may have created at its owner when the edge answered it itself (the owner did
 * not answer within ROUTE_TIMEOUT_MS): the caller got an error, so a participant the owner stores after
 * all has no dialog. The owner's tag is unknown here (''); the owner matches on Call-ID, tag and CSeq.
 * Undefined for anything but an INVITE outside a dialog.
 */
export function abandonedInvite(req: SipRequest, routingKey: string): AcceptedDialog | undefined {
  if (req.method !== 'INVITE') return undefined;
  try {
    const to = parseNameAddr(getHeader(req, 'To') ?? '');
    if (to.params.tag != null) return undefined; // a re-INVITE: the dialog lives on, unchanged for the caller
    const remoteTag = parseNameAddr(getHeader(req, 'From') ?? '').params.tag;
    const callId = getHeader(req, 'Call-ID');
    if (!callId || !remoteTag) return undefined;
    return { callId, localTag: '', remoteTag, cseq: parseCSeq(getHeader(req, 'CSeq') ?? '').seq, routingKey };
  } catch {
    return undefined;
  }
}

export interface DialogFailureReporterOptions {
  /** The focus replica that owns `routingKey` now, or undefined when none is ready. */
  ownerOf: (routingKey: string) => FocusControllerClient | undefined;
  timeoutMs: number;
  logger: Logger;
  /** Wait before the one retry (the owner may be changing hands). */
  retryDelayMs?: number;
}

/** Tells the owner of each failed dialog; tries once more (on the then owner) when the first call fails. */
export function dialogFailureReporter(
  opts: DialogFailureReporterOptions,
): (dialog: AcceptedDialog, reason: string) => Promise<boolean> {
  const call = async (dialog: AcceptedDialog, reason: string): Promise<boolean> => {
    const client = opts.ownerOf(dialog.routingKey);
    if (!client) throw new Error('no focus-controller owns the conference');
    const res = await unary<DialogFailure, DialogFailureResult__Output>(
      client,
      'DialogFailed',
      { ...dialog, reason },
      opts.timeoutMs,
    );
    return res.ended;
  };
  return async (dialog, reason) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const ended = await call(dialog, reason);
        opts.logger.info(
          { callId: dialog.callId, cseq: dialog.cseq, ended, reason },
          'dialog failure reported',
        );
        return ended;
      } catch (err) {
        if (attempt >= 2) {
          opts.logger.error(
            { callId: dialog.callId, conferenceId: dialog.routingKey, err: (err as Error).message },
            'could not report a failed dialog to its owner',
          );
          return false;
        }
        await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 1_000));
      }
    }
  };
}
