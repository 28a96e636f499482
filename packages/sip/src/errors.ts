import type { SipRequest, SipResponse } from './message.js';

/** Input that is not a valid SIP message; `status` is the narrowest response to send back. */
export class SipParseError extends Error {
  override readonly name = 'SipParseError';
  readonly status: number;
  readonly partial?: Partial<SipRequest> | Partial<SipResponse>;

  constructor(status: number, message: string, partial?: Partial<SipRequest> | Partial<SipResponse>) {
    super(message);
    this.status = status;
    if (partial !== undefined) this.partial = partial;
  }
}

/** A message that cannot be written to the wire (e.g. a header value holding CR or LF). */
export class SipSerializeError extends Error {
  override readonly name = 'SipSerializeError';
}

/** A state machine was asked to do something its current state does not allow (RFC 3261 §17). */
export class TransactionStateError extends Error {
  override readonly name = 'TransactionStateError';
  readonly state: string;
  readonly action: string;

  constructor(machine: string, state: string, action: string) {
    super(`${machine}: '${action}' is not allowed in state '${state}'`);
    this.state = state;
    this.action = action;
  }
}

/** A transport could not deliver a message (socket error, connection refused, no such transport). */
export class SipTransportError extends Error {
  override readonly name = 'SipTransportError';
}
