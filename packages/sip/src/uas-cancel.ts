import { generateTag } from './ids.js';
import type { SipRequest } from './message.js';
import { createResponse } from './response.js';
import type { ServerTransaction, TransactionLayer } from './transaction-layer.js';

export type CancelOutcome = 'no-match' | 'cancelled' | 'too-late';

/**
 * RFC 3261 §9.2 for a UAS core: answers the CANCEL received in `cancelTx`. No matching INVITE: 481.
 * Otherwise 200, and 487 to the INVITE if it still awaits its final response; both carry one To tag.
 * A CANCEL that arrives after the final response changes nothing but is still answered 200.
 */
export function answerCancel(
  layer: TransactionLayer,
  cancel: SipRequest,
  cancelTx: ServerTransaction | null,
): CancelOutcome {
  const open = (tx: ServerTransaction | null): tx is ServerTransaction =>
    tx !== null && (tx.state === 'proceeding' || tx.state === 'trying');
  const invite = layer.findInviteServerTransaction(cancel);
  if (!invite) {
    if (open(cancelTx))
      cancelTx.respond(
        createResponse(cancel, 481, 'Call/Transaction Does Not Exist', { toTag: generateTag() }),
      );
    return 'no-match';
  }
  const toTag = generateTag();
  const pending = invite.state === 'proceeding';
  if (pending) invite.respond(createResponse(invite.request, 487, undefined, { toTag }));
  if (open(cancelTx)) cancelTx.respond(createResponse(cancel, 200, undefined, { toTag }));
  return pending ? 'cancelled' : 'too-late';
}
