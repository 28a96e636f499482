// The ACK for a 2xx to an INVITE the edge sent for another service (SendRequest). The INVITE client
// transaction ends on a 2xx, so the ACK is the UAC core's (RFC 3261 §13.2.2.4): a new request in the
// dialog with the INVITE's CSeq number, sent again for every retransmission of that 2xx.
import {
  createInDialogRequest,
  type Destination,
  type DialogState,
  getHeader,
  getHeaders,
  parseCSeq,
  parseNameAddr,
  type SipRequest,
  type SipResponse,
  tagOf,
  uriScheme,
} from '@sip-pubsub/sip';

export class UacAckError extends Error {
  override readonly name = 'UacAckError';
}

/**
 * §13.2.2.4: the ACK for `ok`, a 2xx to `invite`. Request-URI: the remote target the 2xx's Contact
 * names (a re-INVITE refreshes it, §12.2.1.2), else the INVITE's. Route: the INVITE's (the dialog's
 * route set). Credentials of the INVITE are repeated (§22.1). No Via: the transport layer adds one
 * with a new branch.
 */
export function createAckFor2xx(invite: SipRequest, ok: SipResponse): SipRequest {
  if (invite.method !== 'INVITE') throw new UacAckError(`ACK acknowledges an INVITE, not ${invite.method}`);
  if (ok.status < 200 || ok.status >= 300) throw new UacAckError(`status ${ok.status} is not a 2xx`);
  const from = getHeader(invite, 'From');
  const to = getHeader(ok, 'To');
  const callId = getHeader(invite, 'Call-ID');
  const cseq = getHeader(invite, 'CSeq');
  if (from === undefined || to === undefined || callId === undefined || cseq === undefined)
    throw new UacAckError('the INVITE or its 2xx lacks From, To, Call-ID or CSeq');
  const localTag = tagOf(from);
  const remoteTag = tagOf(to);
  if (!localTag || !remoteTag) throw new UacAckError('the INVITE From or the 2xx To has no tag');
  const contact = getHeaders(ok, 'Contact')[0];
  const dialog: DialogState = {
    callId,
    localTag,
    remoteTag,
    localUri: parseNameAddr(from).uri,
    remoteUri: parseNameAddr(to).uri,
    remoteTarget: contact !== undefined ? parseNameAddr(contact).uri : invite.uri,
    routeSet: getHeaders(invite, 'Route'),
    localSeq: parseCSeq(cseq).seq,
    secure: uriScheme(invite.uri) === 'sips',
  };
  const credentials = invite.headers
    .filter((h) => /^(proxy-)?authorization$/i.test(h.name))
    .map((h) => ({ name: h.name, value: h.value }));
  return createInDialogRequest(dialog, 'ACK', { cseq: dialog.localSeq, headers: credentials });
}

interface SentAck {
  ack: SipRequest;
  to: Destination;
  expires: number;
}

/**
 * The ACKs sent for recent 2xx responses, by Call-ID and CSeq number, so that a retransmitted 2xx
 * (it arrives as a stray response once the transaction has ended) is acknowledged again (§13.2.2.4).
 * Kept for 64*T1, as long as the UAS retransmits (§13.3.1.4).
 */
export class SentAcks {
  private readonly byDialogSeq = new Map<string, SentAck>();

  constructor(
    private readonly lifetimeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  remember(ack: SipRequest, to: Destination): void {
    this.prune();
    this.byDialogSeq.set(keyOf(ack), { ack, to, expires: this.now() + this.lifetimeMs });
  }

  /** The ACK to send again for a retransmitted 2xx to an INVITE, if we acknowledged it before. */
  forRetransmission(res: SipResponse): SentAck | undefined {
    if (res.status < 200 || res.status >= 300) return undefined;
    const cseq = getHeader(res, 'CSeq');
    if (cseq === undefined) return undefined;
    let parsed: ReturnType<typeof parseCSeq>;
    try {
      parsed = parseCSeq(cseq);
    } catch {
      return undefined;
    }
    if (parsed.method !== 'INVITE') return undefined;
    this.prune();
    return this.byDialogSeq.get(`${getHeader(res, 'Call-ID') ?? ''}\n${parsed.seq}`);
  }

  get size(): number {
    return this.byDialogSeq.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [key, sent] of this.byDialogSeq) if (sent.expires <= now) this.byDialogSeq.delete(key);
  }
}

function keyOf(ack: SipRequest): string {
  return `${getHeader(ack, 'Call-ID') ?? ''}\n${parseCSeq(getHeader(ack, 'CSeq') ?? '').seq}`;
}
