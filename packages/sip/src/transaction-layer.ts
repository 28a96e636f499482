import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { parseCSeq } from './cseq.js';
import { type SipParseError, SipTransportError } from './errors.js';
import { splitHeaderValues } from './header-values.js';
import { addHeader, getHeader, getHeaders, hasHeader, replaceFirstHeaderValue } from './headers.js';
import { generateBranch } from './ids.js';
import { InviteClientTransaction } from './invite-client-transaction.js';
import { InviteServerTransaction } from './invite-server-transaction.js';
import type { SipMessage, SipRequest, SipResponse, TransportProtocol } from './message.js';
import { NonInviteClientTransaction } from './non-invite-client-transaction.js';
import { NonInviteServerTransaction } from './non-invite-server-transaction.js';
import { createResponse } from './response.js';
import { serializeMessage } from './serializer.js';
import { NamedTimers, type TimerSettings, timerSettings } from './timers.js';
import type { TransactionContext } from './transaction.js';
import { clientTransactionKey, serverTransactionKey } from './transaction-key.js';
import { type Destination, type Flow, isReliable, type SipTransport } from './transport.js';
import { clip } from './uri.js';
import { formatVia, parseVia, type Via } from './via.js';

export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;
export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;

export interface TransactionLayerOptions {
  /** One transport per protocol; messages are routed by Destination.transport / Flow.transport. */
  transports: SipTransport[];
  /** sent-by of the Via we add: `port` unless `ports` names one for the transport the request goes over. */
  via: ViaSentBy;
  timers?: Partial<TimerSettings>;
  clock?: Clock;
  /** Outgoing messages larger than this are refused (transport error). Default: no limit. */
  maxMessageSize?: number;
}

export interface ViaSentBy {
  host: string;
  port: number;
  /** Per-transport sent-by port (§18.1.1: the port this element listens on for that transport). */
  ports?: Partial<Record<TransportProtocol, number>>;
}

export interface RequestOptions {
  onProvisional?: (res: SipResponse) => void;
}

/** A 2xx to an INVITE that the layer retransmits until its ACK arrives (§13.3.1.4). */
interface AcceptedInvite {
  callId: string;
  cseq: number;
  txKey: string;
  response: SipResponse;
  flow: Flow;
  acked: boolean;
  timers: NamedTimers;
}

const DEFAULT_PORTS: Record<TransportProtocol, number> = {
  udp: 5060,
  tcp: 5060,
  tls: 5061,
  ws: 80,
  wss: 443,
};

/**
 * RFC 3261 §17 and §18 in one place: matches incoming messages to transactions, creates server transactions,
 * runs client transactions, routes responses (§18.2.2, RFC 3581), answers unparseable requests, and
 * retransmits 2xx to INVITE until ACKed (UAS core duty, §13.3.1.4). No sockets of its own: it uses the transports.
 */
export class TransactionLayer {
  onRequest: (req: SipRequest, tx: ServerTransaction | null, flow: Flow) => void = () => {};
  onStrayResponse: (res: SipResponse, flow: Flow) => void = () => {};
  onInvalid: (err: SipParseError, flow: Flow) => void = () => {};
  onAckTimeout: (callId: string, cseq: number) => void = () => {};
  /** A TU callback threw, or a stateless send failed; the layer carries on. */
  onError: (err: Error) => void = () => {};

  private readonly transports = new Map<TransportProtocol, SipTransport>();
  private readonly viaSentBy: ViaSentBy;
  private readonly timers: TimerSettings;
  private readonly clock: Clock;
  private readonly maxMessageSize: number;
  private readonly serverTxs = new Map<string, ServerTransaction>();
  private readonly clientTxs = new Map<string, ClientTransaction>();
  private readonly acceptedByAck = new Map<string, AcceptedInvite>();
  private readonly acceptedByTx = new Map<string, AcceptedInvite>();
  private readonly pendingRequests = new Set<() => void>();
  private readonly detach: Array<() => void> = [];
  private closed = false;
  private failedMessages = 0;

  constructor(opts: TransactionLayerOptions) {
    this.viaSentBy = opts.via;
    this.timers = timerSettings(opts.timers);
    this.clock = opts.clock ?? systemClock;
    this.maxMessageSize = opts.maxMessageSize ?? Number.POSITIVE_INFINITY;
    for (const transport of opts.transports) {
      this.transports.set(transport.protocol, transport);
      // A message the layer cannot handle is reported, never thrown back into the transport's socket.
      const onMessage = (msg: SipMessage, _raw: Buffer, flow: Flow) =>
        this.contain(() => this.receive(msg, flow));
      const onInvalid = (err: SipParseError, _raw: Buffer, flow: Flow) =>
        this.contain(() => this.receiveInvalid(err, flow));
      transport.on('message', onMessage);
      transport.on('invalid', onInvalid);
      this.detach.push(() => {
        transport.off?.('message', onMessage);
        transport.off?.('invalid', onInvalid);
      });
    }
  }

  get serverTransactionCount(): number {
    return this.serverTxs.size;
  }

  get clientTransactionCount(): number {
    return this.clientTxs.size;
  }

  /** A live server transaction by its id, e.g. to answer a request another service decided on. */
  getServerTransaction(id: string): ServerTransaction | undefined {
    return this.serverTxs.get(id);
  }

  /** §9.2: the INVITE server transaction a CANCEL refers to (same branch and sent-by). */
  findInviteServerTransaction(cancel: SipRequest): InviteServerTransaction | undefined {
    const tx = this.serverTxs.get(serverTransactionKey(cancel, 'INVITE'));
    return tx instanceof InviteServerTransaction ? tx : undefined;
  }

  request(req: SipRequest, to: Destination, opts: RequestOptions = {}): Promise<SipResponse> {
    if (req.method === 'ACK')
      return Promise.reject(new Error('ACK is not sent in a transaction; use sendStateless()'));
    // §9.1: a CANCEL reuses its INVITE's Via (createCancel) and so keeps it; everything else gets a fresh one.
    const top = getHeaders(req, 'Via')[0];
    const keptVia = req.method === 'CANCEL' && top !== undefined ? parseVia(top) : undefined;
    const branch =
      keptVia?.branch !== undefined && this.isOwnVia(keptVia)
        ? keptVia.branch
        : this.addOwnVia(req, to.transport);
    if (this.closed || !this.transports.has(to.transport)) {
      return Promise.resolve(
        createResponse(req, 503, this.closed ? 'Transaction layer closed' : 'No transport'),
      );
    }
    const key = `${branch}|${req.method}`;
    const ctx = this.context(to.transport, (msg) => this.transmit(msg, to));
    const tx =
      req.method === 'INVITE'
        ? new InviteClientTransaction(req, key, ctx)
        : new NonInviteClientTransaction(req, key, ctx);
    return new Promise<SipResponse>((resolve) => {
      let settled = false;
      const settle = (res: SipResponse) => {
        if (settled) return;
        settled = true;
        this.pendingRequests.delete(abort);
        resolve(res);
      };
      const abort = () => {
        tx.dispose();
        this.clientTxs.delete(key);
        settle(createResponse(req, 503, 'Transaction layer closed'));
      };
      this.pendingRequests.add(abort);
      tx.on('response', (res: SipResponse) => {
        if (res.status < 200) this.callTu(() => opts.onProvisional?.(res));
        else settle(res);
      });
      tx.on('timeout', () => settle(createResponse(req, 408)));
      tx.on('transportError', (err: Error) =>
        settle(createResponse(req, 503, `Transport error: ${clip(err.message)}`)),
      );
      tx.on('terminated', () => this.clientTxs.delete(key));
      this.clientTxs.set(key, tx);
      tx.start();
    });
  }

  sendStateless(msg: SipMessage, to: Destination): Promise<void> {
    if (msg.kind === 'request') {
      const top = getHeaders(msg, 'Via')[0];
      if (top === undefined || !this.isOwnVia(parseVia(top))) this.addOwnVia(msg, to.transport);
    }
    return this.transmit(msg, to);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const tx of this.serverTxs.values()) tx.dispose();
    for (const tx of this.clientTxs.values()) tx.dispose();
    for (const abort of [...this.pendingRequests]) abort();
    for (const accepted of this.acceptedByTx.values()) accepted.timers.stopAll();
    this.serverTxs.clear();
    this.clientTxs.clear();
    this.acceptedByAck.clear();
    this.acceptedByTx.clear();
    for (const off of this.detach) off();
  }

  private context(protocol: TransportProtocol, send: (msg: SipMessage) => Promise<void>): TransactionContext {
    return { clock: this.clock, timers: this.timers, reliable: isReliable(protocol), send };
  }

  /** Adds our top Via (fresh branch, rport per RFC 3581) and Max-Forwards if absent; returns the branch. */
  private addOwnVia(req: SipRequest, protocol: TransportProtocol): string {
    const branch = generateBranch();
    const via: Via = {
      protocol: 'SIP/2.0',
      transport: protocol.toUpperCase(),
      host: this.viaSentBy.host,
      port: this.sentByPort(protocol),
      params: { branch, rport: null },
      branch,
    };
    addHeader(req, 'Via', formatVia(via), 'first');
    if (!hasHeader(req, 'Max-Forwards')) addHeader(req, 'Max-Forwards', '70');
    return branch;
  }

  /** Lower-case transport name ('udp', 'tls', ...) to the sent-by port our Via gives for it. */
  private sentByPort(protocol: string): number {
    const ports = this.viaSentBy.ports;
    const port = ports && Object.hasOwn(ports, protocol) ? ports[protocol as TransportProtocol] : undefined;
    return port ?? this.viaSentBy.port;
  }

  /** Our Via names our host and the sent-by port we use for the transport it names. */
  private isOwnVia(via: Via): boolean {
    const protocol = via.transport.toLowerCase();
    const port = via.port ?? DEFAULT_PORTS[protocol as TransportProtocol] ?? 5060;
    return via.host.toLowerCase() === this.viaSentBy.host.toLowerCase() && port === this.sentByPort(protocol);
  }

  private transmit(msg: SipMessage, to: Destination): Promise<void> {
    const transport = this.transports.get(to.transport);
    if (!transport) return Promise.reject(new SipTransportError(`No ${to.transport} transport`));
    let data: Buffer;
    try {
      data = serializeMessage(msg);
    } catch (err) {
      return Promise.reject(err);
    }
    if (data.length > this.maxMessageSize) {
      return Promise.reject(
        new SipTransportError(`Message of ${data.length} bytes exceeds ${this.maxMessageSize}`),
      );
    }
    // Called synchronously so a stream transport writes before it closes a failed connection.
    return transport.send(data, to);
  }

  private receive(msg: SipMessage, flow: Flow): void {
    if (this.closed) return;
    if (msg.kind === 'request') this.receiveRequest(msg, flow);
    else this.receiveResponse(msg, flow);
  }

  private receiveRequest(req: SipRequest, flow: Flow): void {
    stampVia(req, flow);
    const key = serverTransactionKey(req);

    if (req.method === 'ACK') {
      const tx = this.serverTxs.get(key);
      if (tx instanceof InviteServerTransaction) {
        tx.receiveRequest(req); // ACK for a non-2xx: absorbed by the transaction (§17.2.1)
        return;
      }
      const accepted = this.acceptedByAck.get(
        ackKey(getHeader(req, 'Call-ID'), parseCSeq(getHeader(req, 'CSeq') ?? '').seq),
      );
      if (accepted) {
        if (accepted.acked) return; // retransmitted ACK
        accepted.acked = true;
        accepted.timers.stop('retransmit');
      }
      this.callTu(() => this.onRequest(req, null, flow));
      return;
    }

    const existing = this.serverTxs.get(key);
    if (existing) {
      existing.receiveRequest(req);
      return;
    }
    const accepted = this.acceptedByTx.get(key);
    if (accepted) {
      // INVITE retransmission after our 2xx ended the transaction: repeat the 2xx, do not re-offer it to the TU.
      if (!accepted.acked) this.sendResponse(accepted.response, accepted.flow).catch(() => {});
      return;
    }

    const ctx = this.context(flow.transport, (msg) => this.sendResponse(msg as SipResponse, flow));
    let tx: ServerTransaction;
    if (req.method === 'INVITE') {
      const invite = new InviteServerTransaction(req, flow, key, ctx);
      invite.on('accepted', (res: SipResponse) => this.startAccepted(invite, res));
      tx = invite;
    } else tx = new NonInviteServerTransaction(req, flow, key, ctx);
    tx.on('terminated', () => {
      if (this.serverTxs.get(key) === tx) this.serverTxs.delete(key);
    });
    this.serverTxs.set(key, tx);
    if (tx instanceof NonInviteServerTransaction) this.watchUnanswered(tx);
    if (tx instanceof InviteServerTransaction) tx.respond(createResponse(req, 100)); // §17.2.1

    const ok = this.callTu(() => this.onRequest(req, tx, flow));
    // A TU that threw leaves the request unanswered: answer 500 rather than let the peer retransmit.
    if (!ok && (tx.state === 'proceeding' || tx.state === 'trying')) {
      tx.respond(createResponse(req, 500, 'Server Internal Error'));
    }
  }

  /**
   * A non-INVITE request the TU never answers would hold its transaction forever. After 64*T1 the client has
   * given up (Timer F), so the transaction is dropped and the omission reported.
   */
  private watchUnanswered(tx: NonInviteServerTransaction): void {
    const handle = this.clock.setTimeout(() => {
      if (this.closed || (tx.state !== 'trying' && tx.state !== 'proceeding')) return;
      tx.dispose();
      if (this.serverTxs.get(tx.id) === tx) this.serverTxs.delete(tx.id);
      this.onError(new Error(`${tx.request.method} ${getHeader(tx.request, 'Call-ID')} was never answered`));
    }, 64 * this.timers.T1);
    tx.on('terminated', () => this.clock.clearTimeout(handle));
    tx.on('stateChange', (state) => {
      if (state === 'completed') this.clock.clearTimeout(handle);
    });
  }

  /** Runs the handling of one received message; an exception is counted and goes to onError. */
  private contain(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.failedMessages++;
      try {
        this.onError(err instanceof Error ? err : new Error(String(err)));
      } catch {
        // the report failed too; the count above still shows it
      }
    }
  }

  /** Received messages whose handling threw (and was contained). */
  get failedMessageCount(): number {
    return this.failedMessages;
  }

  /** Runs a TU callback; an exception goes to onError instead of unwinding into the transport. */
  private callTu(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  private receiveResponse(res: SipResponse, flow: Flow): void {
    const top = getHeaders(res, 'Via')[0];
    // §18.1.2: a response whose top Via is not ours was misrouted.
    if (top === undefined || !this.isOwnVia(parseVia(top))) return;
    const key = clientTransactionKey(res);
    const tx = key !== undefined ? this.clientTxs.get(key) : undefined;
    if (tx) tx.receiveResponse(res);
    else this.callTu(() => this.onStrayResponse(res, flow));
  }

  private sendResponse(res: SipResponse, flow: Flow): Promise<void> {
    const top = getHeaders(res, 'Via')[0];
    if (top === undefined) return Promise.reject(new SipTransportError('Response has no Via'));
    return this.transmit(res, responseDestination(parseVia(top), flow));
  }

  /** §13.3.1.4: retransmit the 2xx at T1, doubling to T2, until the ACK or 64*T1. */
  private startAccepted(tx: InviteServerTransaction, res: SipResponse): void {
    const callId = getHeader(res, 'Call-ID') ?? '';
    const cseq = parseCSeq(getHeader(res, 'CSeq') ?? '').seq;
    const accepted: AcceptedInvite = {
      callId,
      cseq,
      txKey: tx.id,
      response: res,
      flow: tx.flow,
      acked: false,
      timers: new NamedTimers(this.clock),
    };
    const previous = this.acceptedByTx.get(tx.id);
    previous?.timers.stopAll();
    this.acceptedByAck.set(ackKey(callId, cseq), accepted);
    this.acceptedByTx.set(tx.id, accepted);
    let interval = this.timers.T1;
    const retransmit = () => {
      this.sendResponse(res, accepted.flow).catch((err: Error) => this.onError(err));
      interval = Math.min(2 * interval, this.timers.T2);
      accepted.timers.start('retransmit', interval, retransmit);
    };
    accepted.timers.start('retransmit', interval, retransmit);
    accepted.timers.start('giveUp', 64 * this.timers.T1, () => {
      accepted.timers.stopAll();
      if (this.acceptedByAck.get(ackKey(callId, cseq)) === accepted)
        this.acceptedByAck.delete(ackKey(callId, cseq));
      if (this.acceptedByTx.get(tx.id) === accepted) this.acceptedByTx.delete(tx.id);
      if (!accepted.acked) this.callTu(() => this.onAckTimeout(callId, cseq));
    });
  }

  private receiveInvalid(err: SipParseError, flow: Flow): void {
    if (this.closed) return;
    const partial = err.partial;
    if (partial?.kind === 'request' && partial.method !== 'ACK' && partial.headers) {
      const top = partial.headers.find((f) => f.name === 'Via');
      let via: Via | undefined;
      try {
        via = top ? parseVia(splitHeaderValues(top.value)[0] ?? '') : undefined;
      } catch {
        via = undefined;
      }
      if (via) {
        const req: SipRequest = {
          kind: 'request',
          method: partial.method ?? 'UNKNOWN',
          uri: partial.uri ?? '',
          version: 'SIP/2.0',
          headers: partial.headers.filter((f) => ['Via', 'From', 'To', 'Call-ID', 'CSeq'].includes(f.name)),
          body: Buffer.alloc(0),
        };
        stampVia(req, flow);
        const res = createResponse(req, err.status, clip(err.message));
        const topVia = parseVia(getHeaders(res, 'Via')[0] ?? '');
        this.transmit(res, responseDestination(topVia, flow)).catch((e: Error) => this.onError(e));
      }
    }
    this.callTu(() => this.onInvalid(err, flow));
  }
}

function ackKey(callId: string | undefined, cseq: number): string {
  return `${callId ?? ''}|${cseq}`;
}

/** §18.2.1 and RFC 3581 §4: record where the request really came from in its top Via. */
export function stampVia(req: SipRequest, flow: Flow): void {
  const top = getHeaders(req, 'Via')[0];
  if (top === undefined) return;
  let via: Via;
  try {
    via = parseVia(top);
  } catch {
    return;
  }
  // A flow without a source address (a connection reset before it was read) has nothing to record:
  // an empty received= would be a Via no parser accepts.
  if (flow.remoteHost === '') return;
  const rport = 'rport' in via.params;
  if (!rport && via.host.toLowerCase() === flow.remoteHost.toLowerCase()) return;
  via.params.received = flow.remoteHost;
  if (rport && flow.remotePort > 0) via.params.rport = String(flow.remotePort);
  replaceFirstHeaderValue(req, 'Via', formatVia(via));
}

/** §18.2.2 (with RFC 3581): where a response goes, given the (stamped) top Via and the request's flow. */
export function responseDestination(via: Via, flow: Flow): Destination {
  const host = via.params.received ?? via.host;
  const sentByPort = via.port ?? DEFAULT_PORTS[flow.transport];
  if (isReliable(flow.transport)) {
    // Same connection if still open, else a new one to received / sent-by port.
    return { transport: flow.transport, host, port: sentByPort, connectionId: flow.connectionId };
  }
  const rport = via.params.rport;
  const port = rport !== undefined && rport !== null && /^\d+$/.test(rport) ? Number(rport) : sentByPort;
  return { transport: flow.transport, host: host || flow.remoteHost, port };
}
