// One participant dialog with a conference (RFC 4579 §5.3 dial-in): INVITE with our SDP offer, ACK the
// 2xx, answer what the focus sends inside the dialog (BYE, re-INVITE on relay failover), BYE to leave.
import { EventEmitter } from 'node:events';
import {
  buildTextAnswer,
  negotiateTextOffer,
  parseTextAnswer,
  SdpNegotiationError,
  type TextAnswerSummary,
} from '@sip-pubsub/media';
import {
  createInDialogRequest,
  createRequest,
  createResponse,
  type DialogState,
  dialogFromUacResponse,
  getHeader,
  parseCSeq,
  type ServerTransaction,
  type SipRequest,
} from '@sip-pubsub/sip';
import { SipPubSubError } from './errors.js';
import type { UserAgent } from './user-agent.js';

/** Where the focus told us to send to / expect media from. */
export interface MediaTarget {
  address: string;
  port: number;
  t140Pt: number;
  redPt?: number;
  /** The relay sends one RFC 9071 mixed stream (the answer carried a=rtt-mixer). */
  mixer?: boolean;
}

export interface ConferenceLegEvents {
  /** The focus moved our media (re-INVITE, PROFILE "Failover"): send to the new target from now on. */
  retarget: [target: MediaTarget];
  /** The focus ended the dialog with BYE. */
  ended: [];
}

export class ConferenceLeg extends EventEmitter<ConferenceLegEvents> {
  private unregister: () => void;
  private left = false;

  private constructor(
    private readonly ua: UserAgent,
    readonly conferenceUri: string,
    readonly dialog: DialogState,
    public target: MediaTarget,
    private readonly local: { address: string; port: number },
  ) {
    super();
    this.unregister = ua.registerDialog(dialog.callId, dialog.localTag, (req, tx) => this.receive(req, tx));
  }

  /** Sends the INVITE with `offer`, ACKs the 2xx and reads the answer. Throws SipPubSubError on refusal. */
  static async join(
    ua: UserAgent,
    conferenceUri: string,
    offer: string,
    local: { address: string; port: number },
  ): Promise<ConferenceLeg> {
    const invite = createRequest({
      method: 'INVITE',
      uri: conferenceUri,
      from: ua.from,
      to: { uri: conferenceUri, params: {} },
      contact: ua.contact,
      headers: [
        { name: 'Allow', value: 'ACK, BYE, CANCEL, INVITE, NOTIFY, OPTIONS' },
        { name: 'Supported', value: 'replaces, join' },
      ],
      body: offer,
      contentType: 'application/sdp',
    });
    const res = await ua.request(invite);
    if (res.status < 200 || res.status >= 300)
      throw SipPubSubError.fromResponse(res, `joining ${conferenceUri}`);

    const dialog = dialogFromUacResponse(invite, res);
    // §13.2.2.4: the ACK for a 2xx is the UAC core's, in the dialog, with the INVITE's CSeq number.
    const ack = createInDialogRequest(dialog, 'ACK', {
      cseq: parseCSeq(getHeader(invite, 'CSeq') ?? '').seq,
    });
    await ua.sendAck(ack);

    let answer: TextAnswerSummary;
    try {
      answer = parseTextAnswer(res.body.toString('utf8'));
    } catch (err) {
      // A 2xx we cannot use still created a dialog: end it before reporting.
      const leg = new ConferenceLeg(ua, conferenceUri, dialog, { address: '', port: 0, t140Pt: 0 }, local);
      await leg.leave().catch(() => {});
      const why = err instanceof SdpNegotiationError ? err.warning : (err as Error).message;
      throw new SipPubSubError(`joining ${conferenceUri}: unusable SDP answer (${why})`, {
        status: res.status,
        reason: res.reason,
        warning: why,
      });
    }
    return new ConferenceLeg(ua, conferenceUri, dialog, mediaTarget(answer), local);
  }

  get active(): boolean {
    return !this.left;
  }

  /** BYE in the dialog (§15.1.1); resolves once it is answered (or has timed out). Idempotent. */
  async leave(): Promise<void> {
    if (this.left) return;
    this.left = true;
    try {
      await this.ua.request(createInDialogRequest(this.dialog, 'BYE'));
    } finally {
      this.unregister();
    }
  }

  private receive(req: SipRequest, tx: ServerTransaction | null): void {
    if (tx === null) return; // ACK to our 2xx for a re-INVITE
    switch (req.method) {
      case 'BYE':
        tx.respond(createResponse(req, 200, 'OK'));
        if (!this.left) {
          this.left = true;
          this.unregister();
          this.emit('ended');
        }
        return;
      case 'INVITE':
        this.reinvite(req, tx);
        return;
      case 'OPTIONS':
        tx.respond(createResponse(req, 200, 'OK'));
        return;
      default:
        tx.respond(
          createResponse(req, 405, 'Method Not Allowed', {
            headers: [{ name: 'Allow', value: 'ACK, BYE, INVITE, OPTIONS' }],
          }),
        );
    }
  }

  /** A re-INVITE from the focus (RFC 3261 §14.2): answer with our same media, take its new address. */
  private reinvite(req: SipRequest, tx: ServerTransaction): void {
    const offer = req.body.toString('utf8');
    if (offer === '') {
      // An offerless re-INVITE would need our offer in the 2xx and the answer in the ACK; not supported.
      tx.respond(
        createResponse(req, 488, 'Not Acceptable Here', {
          headers: [{ name: 'Warning', value: '399 sip-pubsub-client "an SDP offer is required"' }],
        }),
      );
      return;
    }
    try {
      const summary = negotiateTextOffer(offer);
      const answer = buildTextAnswer(offer, summary, this.local);
      tx.respond(
        createResponse(req, 200, 'OK', {
          headers: [{ name: 'Contact', value: this.ua.contactHeader }],
          body: answer,
          contentType: 'application/sdp',
        }),
      );
      this.target = {
        address: summary.address,
        port: summary.port,
        t140Pt: summary.t140Pt,
        redPt: summary.redPt,
      };
      if (summary.mode === 'mix') this.target.mixer = true;
      this.emit('retarget', this.target);
    } catch (err) {
      if (!(err instanceof SdpNegotiationError)) throw err;
      tx.respond(
        createResponse(req, err.status, err.status === 488 ? 'Not Acceptable Here' : 'Bad Request', {
          headers: [
            { name: 'Warning', value: `399 sip-pubsub-client "${err.warning.replace(/["\\]/g, "'")}"` },
          ],
        }),
      );
    }
  }
}

function mediaTarget(answer: TextAnswerSummary): MediaTarget {
  const target: MediaTarget = { address: answer.address, port: answer.port, t140Pt: answer.t140Pt };
  if (answer.redPt !== undefined) target.redPt = answer.redPt;
  if (answer.mixer) target.mixer = true;
  return target;
}
