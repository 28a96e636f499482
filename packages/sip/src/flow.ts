// The flow of a request (RFC 3261 §18.2.2, RFC 5626 §3): one type from the socket it came in on to the
// services behind the edge that answer it and later send requests back along it.
import type { TransportProtocol } from './message.js';

const TRANSPORTS: readonly TransportProtocol[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];

/** Where a message came from and over which socket / connection; where its answers and requests back go. */
export interface Flow {
  transport: TransportProtocol;
  remoteHost: string;
  remotePort: number;
  /** The address it arrived at: known at the edge that holds the socket. */
  localHost?: string;
  localPort?: number;
  /** Stream transports: the connection it arrived on, so responses go back over it (§18.2.2). */
  connectionId?: string;
  /** Behind the edge: the signalling-edge replica that holds the connection, so requests back go through it. */
  edgeId?: string;
}

/** A flow as gRPC carries it (proto `Flow`): '' or 0 where a part is unknown. */
export interface FlowOnWire {
  transport: string;
  remoteHost: string;
  remotePort: number;
  localHost: string;
  localPort: number;
  connectionId: string;
  edgeId: string;
}

export function isTransportProtocol(value: string): value is TransportProtocol {
  return (TRANSPORTS as readonly string[]).includes(value);
}

/** The flow a gRPC message names; no flow (or no transport) is UDP. Throws on a transport we do not run. */
export function flowFromWire(wire: Partial<FlowOnWire> | null | undefined): Flow {
  const transport = (wire?.transport || 'udp').toLowerCase();
  if (!isTransportProtocol(transport)) throw new Error(`unknown transport ${transport} in a flow`);
  const flow: Flow = { transport, remoteHost: wire?.remoteHost ?? '', remotePort: wire?.remotePort ?? 0 };
  if (wire?.localHost) flow.localHost = wire.localHost;
  if (wire?.localPort) flow.localPort = wire.localPort;
  if (wire?.connectionId) flow.connectionId = wire.connectionId;
  if (wire?.edgeId) flow.edgeId = wire.edgeId;
  return flow;
}

export function flowToWire(flow: Flow): FlowOnWire {
  return {
    transport: flow.transport,
    remoteHost: flow.remoteHost,
    remotePort: flow.remotePort,
    localHost: flow.localHost ?? '',
    localPort: flow.localPort ?? 0,
    connectionId: flow.connectionId ?? '',
    edgeId: flow.edgeId ?? '',
  };
}

/** What a service keeps of a flow beside a dialog: the peer and the edge that reaches it, not our socket. */
export function peerFlow(flow: Flow): Flow {
  const kept: Flow = { transport: flow.transport, remoteHost: flow.remoteHost, remotePort: flow.remotePort };
  if (flow.connectionId) kept.connectionId = flow.connectionId;
  if (flow.edgeId) kept.edgeId = flow.edgeId;
  return kept;
}
