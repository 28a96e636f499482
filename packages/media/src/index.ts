export { classifyDatagram, type DatagramKind } from './datagram.js';
export { LINE_SEPARATOR, LineAssembler, type LineAssemblerOptions } from './line-assembler.js';
export {
  payloadTypesKey,
  remapT140PayloadTypes,
  samePayloadTypes,
  type T140PayloadTypes,
} from './payload-type-map.js';
export {
  parseRed,
  RED_MAX_BLOCK_LENGTH,
  RED_MAX_TIMESTAMP_OFFSET,
  type RedBlock,
  RedParseError,
  type RedPayload,
  RedSerializeError,
  serializeRed,
} from './red.js';
export {
  RED_BLOCK_OVERRUN,
  RED_NO_PRIMARY_HEADER,
  RED_TRUNCATED_HEADER,
  RedLayout,
  type RedLayoutError,
  walkRed,
} from './red-layout.js';
export {
  type Goodbye,
  isValidCompound,
  parseRtcp,
  type ReceiverReport,
  type ReportBlock,
  RTCP_BYE,
  RTCP_RR,
  RTCP_SDES,
  RTCP_SR,
  type RtcpPacket,
  RtcpParseError,
  RtcpSerializeError,
  SDES_CNAME,
  type SenderReport,
  type SourceDescription,
  serializeRtcp,
} from './rtcp-packet.js';
export {
  parseRtp,
  RTP_HEADER_SIZE,
  type RtpPacket,
  RtpParseError,
  RtpSerializeError,
  rtpViewErrorMessage,
  serializeRtp,
} from './rtp-packet.js';
export { ntpTimestamp, RtpReceptionStatistics } from './rtp-reception-statistics.js';
export {
  RTP_BAD_PADDING,
  RTP_BAD_VERSION,
  RTP_CSRC_OVERRUN,
  RTP_EXTENSION_OVERRUN,
  RTP_EXTENSION_TRUNCATED,
  RTP_TOO_SHORT,
  RTP_VIEW_OK,
  RtpView,
  type RtpViewError,
} from './rtp-view.js';
export {
  answerDirectionFor,
  type Direction,
  type Role,
  roleFromOfferDirection,
} from './sdp/direction.js';
export { SdpNegotiationError } from './sdp/sdp-negotiation-error.js';
export {
  AGGREGATE_WINDOW_MAX_MS,
  AGGREGATE_WINDOW_MIN_MS,
  RTT_MIXER_ATTRIBUTE,
  SENML_AGGREGATE_ATTRIBUTE,
} from './sdp/text-media.js';
export {
  buildSessionDescription,
  buildTextAnswer,
  createTextOffer,
  type ForwardingMode,
  negotiateTextOffer,
  parseTextAnswer,
  type TextAnswerLocal,
  type TextAnswerSummary,
  type TextOfferOptions,
  type TextOfferSummary,
} from './sdp/text-offer-answer.js';
export { sequenceDelta } from './sequence-number.js';
export { isRedundancyOnly, redCarriesNoText, redundancyOnly, type T140PacketLike } from './t140-keepalive.js';
export { type T140MixedDelivery, T140MixerReceiver } from './t140-mixer-receiver.js';
export {
  MISSING_TEXT_MARKER,
  type T140Delivery,
  type T140PacketInput,
  T140Receiver,
  type T140ReceiverOptions,
} from './t140-receiver.js';
export { T140Sender, type T140SenderOptions } from './t140-sender.js';
export { DEFAULT_BUFFER_MS, T140Transmitter, type T140TransmitterOptions } from './t140-transmitter.js';
