// Why an SDP offer or answer for m=text cannot be accepted; the focus turns it into a SIP response.

export class SdpNegotiationError extends Error {
  override readonly name = 'SdpNegotiationError';
  /** SIP status to answer with: 488 Not Acceptable Here, or 400 when the SDP cannot be read. */
  readonly status: number;
  /** Text for the Warning header (RFC 3261 §20.43), without code and agent. */
  readonly warning: string;
  /** Warning code that fits: 304 media type not available, 305 incompatible format, 399 miscellaneous. */
  readonly warnCode: number;

  constructor(status: number, warning: string, warnCode = status === 400 ? 399 : 304) {
    super(`${status}: ${warning}`);
    this.status = status;
    this.warning = warning;
    this.warnCode = warnCode;
  }
}
