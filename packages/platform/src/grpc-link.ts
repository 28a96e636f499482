// Calls both ways over one long-lived gRPC stream (issue 11): each side calls the other's methods by name,
// every call carries the caller's correlation id and deadline, and the answer repeats the id. A loopback
// unary call costs a new HTTP/2 stream each time; a frame on an open stream costs one write.
// Wire-agnostic: payloads are encoded with the serialisers of the methods' gRPC definitions, and frames
// are proto LinkFrame (declared here structurally; the platform does not depend on the contracts).
import * as grpc from '@grpc/grpc-js';
import { GrpcStatusError } from './grpc.js';
import { fallbackLogger, type Logger } from './logging.js';

/** A method's (de)serialisers, as in a grpc-js service definition. */
export interface LinkMethod {
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

/** proto LinkFrame. */
export interface LinkFrame {
  id: number;
  answer: boolean;
  method: string;
  payload: Buffer | Uint8Array;
  deadlineMs: number;
  code: number;
  error: string;
}

/** proto LinkFrames: one message of a link, the frames its side queued since the previous one. */
export interface LinkFrames {
  frames: LinkFrame[];
}

/** The two ends of a grpc-js duplex call, client or server side. */
export interface LinkStream {
  write(message: LinkFrames, done?: (err?: Error | null) => void): boolean;
  on(event: 'data', fn: (message: LinkFrames) => void): unknown;
  on(event: 'end' | 'close', fn: () => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
  end(): void;
}

/** A call received on a link, as the handler sees it (the shape of a grpc-js server call's checks). */
export interface LinkIncomingCall {
  /** The link closed: the answer reaches no one. */
  readonly cancelled: boolean;
  getDeadline(): number;
  /** The link the call came on (to reserve a follow-up call the answer carries). */
  readonly link: CallLink;
}

export type LinkHandler = (request: never, call: LinkIncomingCall) => Promise<unknown>;

export interface CallLinkOptions {
  /** Methods this side calls on the other. */
  calls: Readonly<Record<string, LinkMethod>>;
  /** Methods this side serves. */
  serves: Readonly<Record<string, { method: LinkMethod; handle: LinkHandler }>>;
  /** Calls awaiting an answer at once, each way; one more is refused with RESOURCE_EXHAUSTED. */
  maxPending?: number;
  logger?: Logger;
}

export const LINK_MAX_PENDING = 2048;

/** Payload bytes past which a link message leaves without more frames (gRPC's receive limit is 4 MiB). */
const LINK_MESSAGE_BYTES = 1 << 20;

/**
 * How long a draining link waits for its calls in flight before it closes anyway: above the owners'
 * longest SendRequest deadline (EDGE_RPC_TIMEOUT_MS, 40 s), so a call is never cut short by a drain.
 */
export const LINK_DRAIN_MS = 45_000;

/** A frame's bytes as a Buffer without a copy (protobufjs hands bytes fields over as Buffers in Node). */
function bytesOf(payload: Buffer | Uint8Array): Buffer {
  if (Buffer.isBuffer(payload)) return payload;
  if (payload instanceof Uint8Array)
    return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return Buffer.from(payload as never); // another codec's form of bytes (e.g. JSON's {type, data})
}

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class CallLink {
  private readonly pending = new Map<number, Pending>();
  private servingNow = 0;
  private nextId = 1;
  private open = true;
  private readonly closers = new Set<() => void>();
  /** Frames waiting for the next message, and whether one is on its way (written, not yet taken). */
  private queued: LinkFrame[] = [];
  private sending = false;
  private messagesSent = 0;
  /** Closes once the calls in flight are answered (drain()). */
  private draining = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private readonly maxPending: number;
  private readonly logger: Logger;

  constructor(
    private readonly stream: LinkStream,
    private readonly opts: CallLinkOptions,
  ) {
    this.maxPending = opts.maxPending ?? LINK_MAX_PENDING;
    this.logger = opts.logger ?? fallbackLogger();
    stream.on('data', (message) => {
      for (const frame of message.frames ?? []) this.receive(frame);
    });
    stream.on('error', (err) => this.shut(`link failed: ${err.message}`));
    stream.on('end', () => this.shut('link ended by the peer'));
    stream.on('close', () => this.shut('link closed'));
  }

  get closed(): boolean {
    return !this.open;
  }

  /** Calls waiting for the other side's answer. */
  get inFlight(): number {
    return this.pending.size;
  }

  onClose(fn: () => void): void {
    if (!this.open) fn();
    else this.closers.add(fn);
  }

  /** Calls `method` on the other side; rejects with a GrpcStatusError (UNAVAILABLE, DEADLINE_EXCEEDED, ...). */
  call<Res>(method: string, request: unknown, deadlineMs: number): Promise<Res> {
    const codec = this.opts.calls[method];
    if (!codec) return Promise.reject(new TypeError(`link calls no method ${method}`));
    let payload: Buffer;
    try {
      payload = codec.requestSerialize(request);
    } catch (err) {
      return Promise.reject(err);
    }
    const reserved = this.reserve<Res>(method, deadlineMs);
    if (reserved.id !== 0)
      this.write({ id: reserved.id, answer: false, method, payload, deadlineMs, code: 0, error: '' });
    return reserved.result;
  }

  /**
   * A call whose request travels inside another message (a follow-up in an answer): its id, and the
   * promise of its answer, which comes back on the link as for `call`. id 0: refused (closed or full).
   */
  reserve<Res>(method: string, deadlineMs: number): { id: number; result: Promise<Res> } {
    if (!this.open)
      return { id: 0, result: Promise.reject(new GrpcStatusError(grpc.status.UNAVAILABLE, 'link closed')) };
    if (this.pending.size >= this.maxPending)
      return {
        id: 0,
        result: Promise.reject(
          new GrpcStatusError(
            grpc.status.RESOURCE_EXHAUSTED,
            `link has ${this.pending.size} calls in flight`,
          ),
        ),
      };
    const id = this.allocateId();
    const result = new Promise<Res>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new GrpcStatusError(grpc.status.DEADLINE_EXCEEDED, `${method} got no answer in ${deadlineMs} ms`),
        );
        this.closeIfDrained();
      }, deadlineMs);
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
    });
    return { id, result };
  }

  /** Serves a call whose request arrived inside another message (a follow-up), answering it as `id`. */
  serveDetached(method: string, id: number, request: unknown, deadlineMs: number): void {
    this.serve(id, method, request, deadlineMs);
  }

  /** Messages written on the stream so far (each carries one or more frames). */
  get messages(): number {
    return this.messagesSent;
  }

  /** Calls of the other side being served here. */
  get serving(): number {
    return this.servingNow;
  }

  /** Whether drain() was called: the link closes once its calls in flight are answered. */
  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * Ends the link gently: the links that hand it out forget it (so only what is in flight uses it, such
   * as a follow-up of a call it carries), and it closes once the calls in flight both ways have been
   * answered and the answers written (or after graceMs). A replica that left membership, or a newer link
   * of the same edge, so replaces this one without failing what was already handed to it, as unary calls
   * in flight outlive a membership change.
   */
  drain(graceMs = LINK_DRAIN_MS): void {
    if (!this.open || this.draining) return;
    this.draining = true;
    this.drainTimer = setTimeout(() => this.close(), graceMs);
    this.drainTimer.unref?.();
    this.closeIfDrained();
  }

  private closeIfDrained(): void {
    if (
      this.draining &&
      this.open &&
      this.pending.size === 0 &&
      this.servingNow === 0 &&
      this.queued.length === 0 &&
      !this.sending
    )
      this.close();
  }

  /** Ends the stream; calls in flight fail with UNAVAILABLE. */
  close(): void {
    if (!this.open) return;
    try {
      this.stream.end();
    } catch {
      // already gone
    }
    this.shut('link closed by us');
  }

  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffff_fffe ? 1 : this.nextId + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  /**
   * Queues a frame for the next message. A message leaves once per event-loop turn, and not before the
   * previous one was taken by the stream: grpc-js sends a stream's messages one at a time, each after the
   * previous one's socket write, so one frame per message would let frames pile up behind each other
   * under load (past their deadlines) while the socket idles between writes.
   */
  private write(frame: LinkFrame): void {
    if (!this.open) return;
    this.queued.push(frame);
    if (this.queued.length === 1 && !this.sending) setImmediate(() => this.flush());
  }

  private flush(): void {
    if (!this.open || this.sending || this.queued.length === 0) return;
    let bytes = 0;
    let n = 0;
    while (n < this.queued.length && (n === 0 || bytes + this.queued[n].payload.length <= LINK_MESSAGE_BYTES))
      bytes += this.queued[n++].payload.length;
    const frames = this.queued.splice(0, n);
    this.sending = true;
    this.messagesSent++;
    try {
      this.stream.write({ frames }, () => {
        this.sending = false;
        if (this.queued.length > 0) setImmediate(() => this.flush());
        else this.closeIfDrained();
      });
    } catch (err) {
      this.shut(`link write failed: ${(err as Error).message}`);
    }
  }

  private receive(frame: LinkFrame): void {
    if (frame.answer) {
      this.answered(frame);
      return;
    }
    const served = this.opts.serves[frame.method];
    if (!served) {
      this.write(
        this.failure(frame.id, frame.method, grpc.status.UNIMPLEMENTED, `no method ${frame.method}`),
      );
      return;
    }
    let request: unknown;
    try {
      request = served.method.requestDeserialize(bytesOf(frame.payload));
    } catch (err) {
      this.write(this.failure(frame.id, frame.method, grpc.status.INVALID_ARGUMENT, (err as Error).message));
      return;
    }
    this.serve(frame.id, frame.method, request, frame.deadlineMs);
  }

  private serve(id: number, method: string, request: unknown, deadlineMs: number): void {
    const served = this.opts.serves[method];
    if (!served) {
      this.write(this.failure(id, method, grpc.status.UNIMPLEMENTED, `no method ${method}`));
      return;
    }
    if (this.servingNow >= this.maxPending) {
      this.write(
        this.failure(id, method, grpc.status.RESOURCE_EXHAUSTED, `${this.servingNow} calls being served`),
      );
      return;
    }
    this.servingNow++;
    const deadline = Date.now() + (deadlineMs > 0 ? deadlineMs : Number.POSITIVE_INFINITY);
    const link = this;
    const call: LinkIncomingCall = {
      get cancelled() {
        return link.closed;
      },
      getDeadline: () => deadline,
      link,
    };
    Promise.resolve()
      .then(() => served.handle(request as never, call))
      .then(
        (response) => {
          let payload: Buffer;
          try {
            payload = served.method.responseSerialize(response);
          } catch (err) {
            this.write(this.failure(id, method, grpc.status.INTERNAL, (err as Error).message));
            return;
          }
          this.write({ id, answer: true, method, payload, deadlineMs: 0, code: 0, error: '' });
        },
        (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          if (err instanceof GrpcStatusError) this.write(this.failure(id, method, err.code, message));
          else {
            this.logger.error({ err, method }, 'link handler failed');
            this.write(this.failure(id, method, grpc.status.INTERNAL, message));
          }
        },
      )
      .finally(() => {
        this.servingNow--;
        this.closeIfDrained();
      });
  }

  private answered(frame: LinkFrame): void {
    const waiting = this.pending.get(frame.id);
    // Unknown: its deadline passed (the caller has moved on), or a confused peer.
    if (!waiting) return;
    this.pending.delete(frame.id);
    clearTimeout(waiting.timer);
    // Its caller's continuation runs first (it may hand a follow-up to serve), then a drain may close.
    if (this.draining) setImmediate(() => this.closeIfDrained());
    if (frame.code !== 0) {
      waiting.reject(new GrpcStatusError(frame.code, frame.error || `${waiting.method} failed`));
      return;
    }
    const codec = this.opts.calls[waiting.method];
    try {
      waiting.resolve(codec ? codec.responseDeserialize(bytesOf(frame.payload)) : undefined);
    } catch (err) {
      waiting.reject(new GrpcStatusError(grpc.status.INTERNAL, (err as Error).message));
    }
  }

  private failure(id: number, method: string, code: number, error: string): LinkFrame {
    return { id, answer: true, method, payload: Buffer.alloc(0), deadlineMs: 0, code, error };
  }

  private shut(why: string): void {
    if (!this.open) return;
    this.open = false;
    this.queued = [];
    clearTimeout(this.drainTimer);
    this.logger.debug({ why, pending: this.pending.size, serving: this.servingNow }, 'link shut');
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      this.pending.delete(id);
      waiting.reject(new GrpcStatusError(grpc.status.UNAVAILABLE, why));
    }
    for (const fn of this.closers) {
      try {
        fn();
      } catch (err) {
        this.logger.error({ err }, 'link close listener threw');
      }
    }
    this.closers.clear();
  }
}

/** Metadata key naming the edge replica that opened a link. */
export const LINK_EDGE_ID = 'edge-id';

/**
 * The owners' side: the links the edges opened to this replica, by edge id (the newest wins; a closed
 * one leaves). Requests back to an edge go on its link when it has one.
 */
export class EdgeLinks {
  private readonly links = new Map<string, CallLink>();

  constructor(
    private readonly opts: Omit<CallLinkOptions, 'serves'> & { serves: CallLinkOptions['serves'] },
  ) {}

  /** The grpc-js handler of the Link method. */
  readonly handler: grpc.handleBidiStreamingCall<LinkFrames, LinkFrames> = (call) => {
    const edgeId = String(call.metadata.get(LINK_EDGE_ID)[0] ?? '');
    const link = new CallLink(call as unknown as LinkStream, this.opts);
    // The server side ends its half when the edge ends its own.
    call.on('end', () => call.end());
    call.on('cancelled', () => link.close());
    if (!edgeId) return;
    const previous = this.links.get(edgeId);
    this.links.set(edgeId, link);
    // The edge opened a new link (it dropped the old one): the old one finishes what it carries.
    if (previous && previous !== link) previous.drain();
    link.onClose(() => {
      if (this.links.get(edgeId) === link) this.links.delete(edgeId);
    });
  };

  get(edgeId: string | undefined): CallLink | undefined {
    if (!edgeId) return undefined;
    const link = this.links.get(edgeId);
    return link && !link.closed ? link : undefined;
  }

  /**
   * Waits (up to graceMs) for the calls being served to be answered, then closes every link: a draining
   * replica finishes what the edges handed it, as the server's graceful shutdown does for unary calls.
   */
  async drain(graceMs: number): Promise<void> {
    const until = Date.now() + graceMs;
    while (Date.now() < until && [...this.links.values()].some((l) => !l.closed && l.serving > 0))
      await new Promise((resolve) => setTimeout(resolve, 20));
    this.close();
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }
}

/** What a grpc-js client of a service with a Link method exposes for it. */
interface LinkingClient extends grpc.Client {
  Link(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<LinkFrames, LinkFrames>;
}

/** The edge's side: one open link per replica address, opened on first use and again after it closed. */
export class OwnerLinks {
  private readonly links = new Map<string, CallLink>();

  constructor(
    private readonly edgeId: string,
    private readonly opts: CallLinkOptions,
  ) {}

  /** The link over `client` (the pool's channel to `address`), opening one when none is open. */
  get(address: string, client: grpc.Client): CallLink {
    const open = this.links.get(address);
    if (open && !open.closed) return open;
    const metadata = new grpc.Metadata();
    metadata.set(LINK_EDGE_ID, this.edgeId);
    const stream = (client as LinkingClient).Link(metadata);
    const link = new CallLink(stream as unknown as LinkStream, this.opts);
    // A stream error (the replica died, the channel closed) is the link's end, not the process's.
    stream.on('error', () => undefined);
    this.links.set(address, link);
    link.onClose(() => {
      if (this.links.get(address) === link) this.links.delete(address);
      try {
        stream.cancel();
      } catch {
        // already over
      }
    });
    return link;
  }

  /**
   * Drops the links to addresses not in `keep` (replicas that left membership): new calls go elsewhere,
   * calls in flight on them are still answered (a replica whose heartbeat was late is not dead).
   */
  retain(keep: ReadonlySet<string>): void {
    for (const [address, link] of this.links)
      if (!keep.has(address)) {
        this.links.delete(address);
        link.drain();
      }
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }
}
