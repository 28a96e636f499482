// Public API of @sip-pubsub/sip: RFC 3261 messages, transports, transactions and dialogs.

export { createAckForNonSuccess } from './ack.js';
export { createCancel } from './cancel.js';
export { type Clock, FakeClock, systemClock } from './clock.js';
export { type ContactList, isFocusContact, parseContacts } from './contact.js';
export { type CSeq, formatCSeq, parseCSeq } from './cseq.js';
export { MAX_DELTA_SECONDS, parseDeltaSeconds, parseRetryAfter, type RetryAfter } from './delta-seconds.js';
export {
  acceptRemoteSequence,
  checkInDialogRequest,
  createInDialogRequest,
  DialogError,
  type DialogState,
  dialogFromUacResponse,
  dialogFromUasResponse,
  dialogIdOfRequest,
  type InDialogRequestOptions,
} from './dialog.js';
export {
  type DialogReferenceHeader,
  type DialogReferenceRequest,
  type DialogReferenceVerdict,
  dialogReferenceOf,
  matchDialogReference,
  namesDialog,
  type ReferencedDialog,
} from './dialog-reference-match.js';
export {
  computeDigestResponse,
  createDigestAuthorization,
  type DigestAlgorithm,
  type DigestChallenge,
  type DigestCredentials,
  type DigestInput,
  DigestNonceIssuer,
  digestHa1,
  formatDigestChallenge,
  formatDigestCredentials,
  parseAuthParams,
  parseDigestChallenge,
  parseDigestCredentials,
  verifyDigestCredentials,
} from './digest.js';
export {
  type AuthOutcome,
  DigestAuthenticator,
  type DigestAuthenticatorOptions,
} from './digest-authenticator.js';
export { CredentialsFormatError, DigestCredentialsStore } from './digest-credentials-store.js';
export { parseEntityTag } from './entity-tag.js';
export { SipParseError, SipSerializeError, SipTransportError, TransactionStateError } from './errors.js';
export { type EventHeader, formatEvent, parseEvent } from './event.js';
export {
  type Flow,
  flowFromWire,
  flowToWire,
  isTransportProtocol,
  peerFlow,
} from './flow.js';
export { canonicalHeaderName, isListHeader } from './header-names.js';
export { formatParams, parseParams, quote, splitHeaderValues, unquote } from './header-values.js';
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
export { generateBranch, generateCallId, generateTag } from './ids.js';
export {
  type IntakeClass,
  type IntakeDecision,
  type IntakeGateOptions,
  type IntakePeek,
  peekMessage,
  type RateBudget,
  rawHeaderFields,
  SourceIntakeGate,
  statelessResponse,
} from './intake-gate.js';
export { type InviteClientState, InviteClientTransaction } from './invite-client-transaction.js';
export { type InviteServerState, InviteServerTransaction } from './invite-server-transaction.js';
export { MergedRequestDetector } from './merged-request-detector.js';
export type { HeaderField, SipMessage, SipRequest, SipResponse, TransportProtocol } from './message.js';
export { isRequest, isResponse, SIP_VERSION } from './message.js';
export { formatNameAddr, type NameAddr, parseNameAddr, tagOf } from './name-addr.js';
export { type NonInviteClientState, NonInviteClientTransaction } from './non-invite-client-transaction.js';
export { type NonInviteServerState, NonInviteServerTransaction } from './non-invite-server-transaction.js';
export { LocalNonceCountStore, type NonceCountStore, type NonceUse } from './nonce-count-store.js';
export { DEFAULT_MAX_MESSAGE_SIZE, type ParseOptions, parseMessage } from './parser.js';
export { reasonPhrase } from './reason-phrase.js';
export { parseReferSub } from './refer-sub.js';
export {
  acceptRefer,
  DEFAULT_REFER_EXPIRES_S,
  expireRefer,
  type ReferAcceptance,
  type ReferNotify,
  type Referral,
  type ReferSnapshot,
  ReferStateError,
  referNotifyFailed,
  referralOf,
  reportReferProgress,
  SIPFRAG_CONTENT_TYPE,
} from './refer-subscription.js';
export { parseReferTo, type ReferTo } from './refer-to.js';
export { type DialogReference, formatDialogReference, parseDialogReference } from './replaces.js';
export { type CreateRequestOptions, createRequest } from './request.js';
export {
  acceptsAny,
  DEFAULT_SUPPORTED_OPTION_TAGS,
  KNOWN_METHODS,
  type RequestRejection,
  type RequestValidationPolicy,
  validateRequest,
} from './request-validation.js';
export { type CreateResponseOptions, createResponse, withTag } from './response.js';
export { serializeMessage } from './serializer.js';
export {
  formatSessionExpires,
  parseMinSE,
  parseSessionExpires,
  type Refresher,
  type SessionExpires,
} from './session-expires.js';
export { type RateDecision, SourceRateLimiter } from './source-rate-limiter.js';
export { type StreamFrame, StreamFramer } from './stream-framer.js';
export {
  formatSubscriptionState,
  parseSubscriptionState,
  type SubscriptionState,
} from './subscription-state.js';
export { TcpTransport, type TcpTransportOptions } from './tcp-transport.js';
export { DEFAULT_TIMER_SETTINGS, type TimerSettings } from './timers.js';
export { TlsTransport, type TlsTransportOptions } from './tls-transport.js';
export { type Now, TokenBucket } from './token-bucket.js';
export { formatTokenList, parseTokenList } from './token-list.js';
export type { TransactionContext } from './transaction.js';
export { clientTransactionKey, serverTransactionKey } from './transaction-key.js';
export {
  type ClientTransaction,
  type RequestOptions,
  responseDestination,
  type ServerTransaction,
  stampVia,
  TransactionLayer,
  type TransactionLayerOptions,
  type ViaSentBy,
} from './transaction-layer.js';
export { type Destination, isReliable, type SipTransport } from './transport.js';
export * from './typed-headers.js';
export { answerCancel, type CancelOutcome } from './uas-cancel.js';
export { UdpTransport, type UdpTransportOptions } from './udp-transport.js';
export { formatHost, formatUri, parseUri, type SipUri, uriScheme } from './uri.js';
export { unescapeUnreserved, uriEquals } from './uri-equality.js';
export { BRANCH_MAGIC_COOKIE, formatVia, parseVia, type Via } from './via.js';
export { SIP_WEBSOCKET_SUBPROTOCOL, WsTransport, type WsTransportOptions } from './ws-transport.js';
