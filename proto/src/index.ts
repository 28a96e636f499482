// Loads the gRPC contracts at run time; the TypeScript types are generated from the same .proto
// file at build time (proto-loader-gen-types), so the two cannot drift.
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/sip_pubsub';

export const PROTO_PATH = path.join(__dirname, '..', 'sip_pubsub.proto');

const definition = protoLoader.loadSync(PROTO_PATH, {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

const loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;

/** Client constructors and service definitions of package sippubsub.v1. */
export const contracts = loaded.sippubsub.v1;

export * from './bus-events';
export type { DialogFailure, DialogFailure__Output } from './generated/sippubsub/v1/DialogFailure';
export type {
  DialogFailureResult,
  DialogFailureResult__Output,
} from './generated/sippubsub/v1/DialogFailureResult';
export type { Flow, Flow__Output } from './generated/sippubsub/v1/Flow';
export type {
  FocusControllerClient,
  FocusControllerHandlers,
} from './generated/sippubsub/v1/FocusController';
export type { ForwardingMode, ForwardingMode__Output } from './generated/sippubsub/v1/ForwardingMode';
export type {
  InvalidDataPolicy,
  InvalidDataPolicy__Output,
} from './generated/sippubsub/v1/InvalidDataPolicy';
export type { LegAllocation, LegAllocation__Output } from './generated/sippubsub/v1/LegAllocation';
export type { LegSpec, LegSpec__Output } from './generated/sippubsub/v1/LegSpec';
export type { LinkFrame, LinkFrame__Output } from './generated/sippubsub/v1/LinkFrame';
export type { MediaRelayClient, MediaRelayHandlers } from './generated/sippubsub/v1/MediaRelay';
export type { NotifierClient, NotifierHandlers } from './generated/sippubsub/v1/Notifier';
export type {
  ReleaseLegRequest,
  ReleaseLegRequest__Output,
} from './generated/sippubsub/v1/ReleaseLegRequest';
export type {
  ReleaseLegResponse,
  ReleaseLegResponse__Output,
} from './generated/sippubsub/v1/ReleaseLegResponse';
export type {
  SendRequestRequest,
  SendRequestRequest__Output,
} from './generated/sippubsub/v1/SendRequestRequest';
export type {
  SendRequestResponse,
  SendRequestResponse__Output,
} from './generated/sippubsub/v1/SendRequestResponse';
export type {
  SessionTimerHandOver,
  SessionTimerHandOver__Output,
} from './generated/sippubsub/v1/SessionTimerHandOver';
export type {
  SessionTimerHandOverResult,
  SessionTimerHandOverResult__Output,
} from './generated/sippubsub/v1/SessionTimerHandOverResult';
export type { SignallingEdgeClient, SignallingEdgeHandlers } from './generated/sippubsub/v1/SignallingEdge';
export type {
  SipRequestEnvelope,
  SipRequestEnvelope__Output,
} from './generated/sippubsub/v1/SipRequestEnvelope';
export type {
  SipResponseEnvelope,
  SipResponseEnvelope__Output,
} from './generated/sippubsub/v1/SipResponseEnvelope';
export type { StatsRequest, StatsRequest__Output } from './generated/sippubsub/v1/StatsRequest';
export type { StatsResponse, StatsResponse__Output } from './generated/sippubsub/v1/StatsResponse';
export type { TopicLoad, TopicLoad__Output } from './generated/sippubsub/v1/TopicLoad';
export * from './state';
