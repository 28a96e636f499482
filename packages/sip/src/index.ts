// Public API of @sip-pubsub/sip: RFC 3261 messages, transports, transactions and dialogs.
export type { HeaderField, SipMessage, SipRequest, SipResponse, TransportProtocol } from './message.js';
export { isRequest, isResponse, SIP_VERSION } from './message.js';
export { SipParseError, SipSerializeError, SipTransportError, TransactionStateError } from './errors.js';
export { DEFAULT_MAX_MESSAGE_SIZE, type ParseOptions, parseMessage } from './parser.js';
export { serializeMessage } from './serializer.js';
export {
  addHeader,
  getHeader,
  getHeaders,
  hasHeader,
  removeFirstHeaderValue,
  removeHeader,
  replaceFirstHeaderValue,
  setHeader,
} from './headers.js';
export { canonicalHeaderName, isListHeader } from './header-names.js';
export { formatParams, parseParams, quote, splitHeaderValues, unquote } from './header-values.js';
export { formatHost, formatUri, parseUri, type SipUri, uriScheme } from './uri.js';
export { formatNameAddr, type NameAddr, parseNameAddr, tagOf } from './name-addr.js';
export { BRANCH_MAGIC_COOKIE, formatVia, parseVia, type Via } from './via.js';
export { type CSeq, formatCSeq, parseCSeq } from './cseq.js';
export { type EventHeader, formatEvent, parseEvent } from './event.js';
export { formatSubscriptionState, parseSubscriptionState, type SubscriptionState } from './subscription-state.js';
export { type CreateResponseOptions, createResponse, withTag } from './response.js';
export { reasonPhrase } from './reason-phrase.js';
export { type CreateRequestOptions, createRequest } from './request.js';
export { generateBranch, generateCallId, generateTag } from './ids.js';
export { type Destination, type Flow, isReliable, type SipTransport } from './transport.js';
export { UdpTransport, type UdpTransportOptions } from './udp-transport.js';
export { TcpTransport, type TcpTransportOptions } from './tcp-transport.js';
export { type StreamFrame, StreamFramer } from './stream-framer.js';
export { type Clock, FakeClock, systemClock } from './clock.js';
export { DEFAULT_TIMER_SETTINGS, type TimerSettings } from './timers.js';
export type { TransactionContext } from './transaction.js';
export { InviteServerTransaction, type InviteServerState } from './invite-server-transaction.js';
export { NonInviteServerTransaction, type NonInviteServerState } from './non-invite-server-transaction.js';
export { InviteClientTransaction, type InviteClientState } from './invite-client-transaction.js';
export { NonInviteClientTransaction, type NonInviteClientState } from './non-invite-client-transaction.js';
export { createAckForNonSuccess } from './ack.js';
export { clientTransactionKey, serverTransactionKey } from './transaction-key.js';
export {
  type ClientTransaction,
  type RequestOptions,
  responseDestination,
  type ServerTransaction,
  stampVia,
  TransactionLayer,
  type TransactionLayerOptions,
} from './transaction-layer.js';
export {
  acceptRemoteSequence,
  DialogError,
  createInDialogRequest,
  type DialogState,
  dialogFromUacResponse,
  dialogFromUasResponse,
  type InDialogRequestOptions,
} from './dialog.js';
