// Errors the SDK and the command line raise; each names what failed so a caller can act on it.
import { getHeader, type SipResponse } from '@sip-pubsub/sip';

/** The broker refused or failed a request: the SIP status, its reason phrase and any Warning text. */
export class SipPubSubError extends Error {
  override readonly name = 'SipPubSubError';
  readonly status?: number;
  readonly reason?: string;
  /** Text of a Warning header (RFC 3261 §20.43), e.g. why an SDP offer was refused. */
  readonly warning?: string;
  /** Contact of the response, e.g. the existing conference named by a 409 (PROFILE "Creating and joining"). */
  readonly contact?: string;

  constructor(
    message: string,
    details: { status?: number; reason?: string; warning?: string; contact?: string } = {},
  ) {
    super(message);
    if (details.status !== undefined) this.status = details.status;
    if (details.reason !== undefined) this.reason = details.reason;
    if (details.warning !== undefined) this.warning = details.warning;
    if (details.contact !== undefined) this.contact = details.contact;
  }

  /** '<status> <reason>', with the Warning text in parentheses when the response has one. */
  static fromResponse(res: SipResponse, context?: string): SipPubSubError {
    const warning = warningText(getHeader(res, 'Warning'));
    const contact = getHeader(res, 'Contact');
    let message = `${res.status} ${res.reason}`;
    if (warning !== undefined && warning !== res.reason) message += ` (${warning})`;
    if (context !== undefined) message = `${context}: ${message}`;
    return new SipPubSubError(message, { status: res.status, reason: res.reason, warning, contact });
  }
}

/** A client, publisher, subscriber or watcher was used after close(). */
export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError';
}

/** §20.43 warning-value is `code agent "text"`; the text is what a person wants to read. */
export function warningText(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const match = /^\s*\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"/.exec(value);
  return match ? match[1].replace(/\\(.)/g, '$1') : value.trim();
}
