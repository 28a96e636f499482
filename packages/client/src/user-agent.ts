// The SIP user agent core under the SDK (RFC 3261 §8, §12, §13): one transport bound locally, one
// transaction layer, every request sent to the broker's edge (it acts as our outbound proxy), and
// incoming in-dialog requests dispatched to the publisher, subscriber or watcher that owns the dialog.
import {
  type Clock,
  createDigestAuthorization,
  createResponse,
  type Destination,
  type DigestChallenge,
  type Flow,
  formatNameAddr,
  getHeader,
  getHeaders,
  type NameAddr,
  parseCSeq,
  parseDigestChallenge,
  parseNameAddr,
  removeHeader,
  type ServerTransaction,
  type SipRequest,
  type SipResponse,
  type SipTransport,
  setHeader,
  systemClock,
  TcpTransport,
  TransactionLayer,
  UdpTransport,
} from '@sip-pubsub/sip';
import type { ResolvedClientOptions } from './client-options.js';
import { ClientClosedError } from './errors.js';

/** Handles a request inside one of our dialogs; it must answer through `tx` when tx is not null. */
export type DialogRequestHandler = (req: SipRequest, tx: ServerTransaction | null) => void;

/** Methods we answer outside dialogs, for OPTIONS and 405 responses. */
export const UA_ALLOW = 'ACK, BYE, CANCEL, INVITE, NOTIFY, OPTIONS';

const ACK_MEMORY_MS = 32_000;
const MAX_CSEQ_SHIFTS = 10_000;

export class UserAgent {
  /** Our address-of-record, `sip:<user>@<domain>`. */
  readonly aor: string;
  /** Where we can be reached: our transport's bound address. */
  readonly contact: NameAddr;
  readonly clock: Clock;
  private readonly dialogs = new Map<string, DialogRequestHandler>();
  /** ACKs we sent for 2xx to INVITE, resent when a retransmitted 2xx shows the ACK was lost (§13.2.2.4). */
  private readonly acks = new Map<string, { ack: SipRequest; expiry: unknown }>();
  private closed = false;
  /** Per Call-ID, how many CSeq numbers authenticated retries added; later requests are raised by it. */
  private readonly cseqShift = new Map<string, number>();

  private constructor(
    readonly options: ResolvedClientOptions,
    readonly transport: SipTransport,
    readonly layer: TransactionLayer,
    clock: Clock,
  ) {
    this.clock = clock;
    this.aor = `sip:${options.user}@${options.domain}`;
    const { host, port } = transport.address;
    const params = options.transport === 'tcp' ? ';transport=tcp' : '';
    this.contact = {
      uri: `sip:${options.user}@${uriHost(advertisedHost(host, options.localHost))}:${port}${params}`,
      params: {},
    };
    layer.onRequest = (req, tx, flow) => this.receiveRequest(req, tx, flow);
    layer.onStrayResponse = (res) => this.receiveStrayResponse(res);
  }

  static async start(options: ResolvedClientOptions, clock: Clock = systemClock): Promise<UserAgent> {
    const transport: SipTransport =
      options.transport === 'tcp'
        ? new TcpTransport({ host: options.localHost, port: 0 })
        : new UdpTransport({ host: options.localHost, port: 0 });
    await transport.listen();
    // A socket error after start-up (e.g. ICMP unreachable on some platforms) must not crash the process.
    transport.on('error', () => {});
    const via = {
      host: advertisedHost(transport.address.host, options.localHost),
      port: transport.address.port,
    };
    const layer = new TransactionLayer({ transports: [transport], via, timers: options.timers, clock });
    return new UserAgent(options, transport, layer, clock);
  }

  /** The broker's SIP edge: every request we send goes there, whatever its Request-URI. */
  get server(): Destination {
    return {
      transport: this.options.transport,
      host: this.options.server.host,
      port: this.options.server.port,
    };
  }

  /** Our From value (without tag): display name and AOR. */
  get from(): NameAddr {
    const from: NameAddr = { uri: this.aor, params: {} };
    if (this.options.displayName !== undefined) from.displayName = this.options.displayName;
    return from;
  }

  get contactHeader(): string {
    return formatNameAddr(this.contact);
  }

  /**
   * Sends a request in a client transaction; resolves with the final response (408 / 503 synthesised).
   * With credentials, a 401/407 is answered once (§22.2): `req` itself is updated (new CSeq, Authorization)
   * so a dialog built from it afterwards carries the numbers that were really sent.
   */
  async request(req: SipRequest, onProvisional?: (res: SipResponse) => void): Promise<SipResponse> {
    if (this.closed) throw new ClientClosedError('SIP user agent is closed');
    const callId = getHeader(req, 'Call-ID') ?? '';
    const shift = this.cseqShift.get(callId) ?? 0;
    if (shift > 0 && req.method !== 'CANCEL') {
      // Earlier authenticated retries used extra numbers in this call: stay above them (§12.2.1.1).
      const cseq = parseCSeq(getHeader(req, 'CSeq') ?? '');
      setHeader(req, 'CSeq', `${cseq.seq + shift} ${cseq.method}`);
    }
    const res = await this.layer.request(req, this.server, { onProvisional });
    const credentials = this.options.credentials;
    if (!credentials || (res.status !== 401 && res.status !== 407) || req.method === 'CANCEL') return res;
    const header = res.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
    let challenge: DigestChallenge | undefined;
    try {
      // Prefer SHA-256 when offered (RFC 8760 §2.4), else the first challenge.
      const offers = getHeaders(res, header).map(parseDigestChallenge);
      challenge = offers.find((c) => c.algorithm === 'SHA-256') ?? offers[0];
    } catch {
      return res;
    }
    if (!challenge || this.closed) return res;
    removeHeader(req, 'Via');
    const cseq = parseCSeq(getHeader(req, 'CSeq') ?? '');
    setHeader(req, 'CSeq', `${cseq.seq + 1} ${cseq.method}`);
    const name = res.status === 401 ? 'Authorization' : 'Proxy-Authorization';
    setHeader(req, name, createDigestAuthorization(req, challenge, credentials));
    this.cseqShift.delete(callId);
    this.cseqShift.set(callId, shift + 1);
    if (this.cseqShift.size > MAX_CSEQ_SHIFTS)
      this.cseqShift.delete(this.cseqShift.keys().next().value ?? '');
    return this.layer.request(req, this.server, { onProvisional });
  }

  /** Sends the ACK for a 2xx to INVITE (§13.2.2.4) and keeps it for retransmitted 2xx. */
  async sendAck(ack: SipRequest): Promise<void> {
    const key = ackKey(getHeader(ack, 'Call-ID'), parseCSeq(getHeader(ack, 'CSeq') ?? '').seq);
    const previous = this.acks.get(key);
    if (previous) this.clock.clearTimeout(previous.expiry);
    const expiry = this.clock.setTimeout(() => this.acks.delete(key), ACK_MEMORY_MS);
    this.acks.set(key, { ack, expiry });
    await this.layer.sendStateless(ack, this.server);
  }

  /** Routes requests inside the dialog (Call-ID + our tag, §12.2.2) to `handler` until the returned function is called. */
  registerDialog(callId: string, localTag: string, handler: DialogRequestHandler): () => void {
    const key = dialogKey(callId, localTag);
    this.dialogs.set(key, handler);
    return () => {
      if (this.dialogs.get(key) === handler) this.dialogs.delete(key);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const { expiry } of this.acks.values()) this.clock.clearTimeout(expiry);
    this.acks.clear();
    this.dialogs.clear();
    await this.layer.close();
    await this.transport.close();
  }

  private receiveRequest(req: SipRequest, tx: ServerTransaction | null, _flow: Flow): void {
    const callId = getHeader(req, 'Call-ID') ?? '';
    const toTag = tagOf(getHeader(req, 'To'));
    const handler = toTag !== undefined ? this.dialogs.get(dialogKey(callId, toTag)) : undefined;
    if (handler) {
      handler(req, tx);
      return;
    }
    if (tx === null) return; // an ACK for nothing we know
    if (toTag !== undefined) {
      tx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    switch (req.method) {
      case 'OPTIONS':
        tx.respond(
          createResponse(req, 200, 'OK', {
            headers: [
              { name: 'Allow', value: UA_ALLOW },
              { name: 'Accept', value: 'application/sdp, application/conference-info+xml' },
            ],
          }),
        );
        return;
      case 'INVITE':
        // The SDK only dials in; dial-out by the focus (RFC 4579 §5.6) is not taken.
        tx.respond(createResponse(req, 603, 'Decline'));
        return;
      default:
        tx.respond(
          createResponse(req, 405, 'Method Not Allowed', { headers: [{ name: 'Allow', value: UA_ALLOW }] }),
        );
    }
  }

  private receiveStrayResponse(res: SipResponse): void {
    const cseq = parseCSeq(getHeader(res, 'CSeq') ?? '');
    if (cseq.method !== 'INVITE' || res.status < 200 || res.status >= 300) return;
    const kept = this.acks.get(ackKey(getHeader(res, 'Call-ID'), cseq.seq));
    if (kept) this.layer.sendStateless(kept.ack, this.server).catch(() => {});
  }
}

/** Dialog state of the request's remote party, as the UA keys it. */
export function dialogKey(callId: string, localTag: string): string {
  return `${callId}|${localTag}`;
}

function ackKey(callId: string | undefined, cseq: number): string {
  return `${callId ?? ''}|${cseq}`;
}

function tagOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const tag = parseNameAddr(value).params.tag;
    return typeof tag === 'string' && tag !== '' ? tag : undefined;
  } catch {
    return undefined;
  }
}

/** A socket bound to a wildcard address cannot be reached at it; advertise the configured host then. */
function advertisedHost(bound: string, configured: string): string {
  return bound === '0.0.0.0' || bound === '::' ? configured : bound;
}

function uriHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
