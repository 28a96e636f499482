import * as grpc from '@grpc/grpc-js';
import type { Logger } from './logging.js';

export interface GrpcServiceRegistration {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

export interface RunningGrpcServer {
  server: grpc.Server;
  port: number;
  /** Lets in-flight calls finish for up to graceMs (default 5000), then cancels the rest. */
  stop(graceMs?: number): Promise<void>;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Binds an insecure server (loopback or cluster network) with the given services; port 0 = ephemeral. */
export async function startGrpcServer(opts: {
  host: string;
  port: number;
  services: GrpcServiceRegistration[];
  options?: grpc.ServerOptions;
}): Promise<RunningGrpcServer> {
  const server = new grpc.Server(opts.options);
  for (const { definition, implementation } of opts.services) server.addService(definition, implementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(hostPort(opts.host, opts.port), grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
  let stopped: Promise<void> | undefined;
  const stop = (graceMs = 5000): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.forceShutdown(), graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return stopped;
  };
  return { server, port, stop };
}

/**
 * Options of pool channels. Reconnect backoff: a peer that restarts is reachable again within about a
 * second (grpc-js defaults grow the backoff to 120 s, so a restarted replica stayed unreachable long
 * after). Keepalive: a peer that vanishes without closing its connections (a crashed node, a cut
 * network) is noticed within about 3 s, not only when a call times out.
 */
export const CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
  'grpc.keepalive_time_ms': 2_000,
  'grpc.keepalive_timeout_ms': 1_000,
  'grpc.keepalive_permit_without_calls': 1,
} as const;

export type ChannelState = 'idle' | 'connecting' | 'ready' | 'transient-failure' | 'shutdown';

const STATE_NAMES: Record<number, ChannelState> = {
  [grpc.connectivityState.IDLE]: 'idle',
  [grpc.connectivityState.CONNECTING]: 'connecting',
  [grpc.connectivityState.READY]: 'ready',
  [grpc.connectivityState.TRANSIENT_FAILURE]: 'transient-failure',
  [grpc.connectivityState.SHUTDOWN]: 'shutdown',
};

/** One client (one HTTP/2 channel) per peer address. */
export class GrpcClientPool<C extends grpc.Client> {
  private readonly clients = new Map<string, C>();
  private readonly watchers = new Set<(address: string, state: ChannelState) => void>();

  constructor(
    private readonly ctor: new (address: string, creds: grpc.ChannelCredentials, options?: object) => C,
    private readonly options?: grpc.ClientOptions,
  ) {}

  get(address: string): C {
    let client = this.clients.get(address);
    if (!client) {
      client = new this.ctor(address, grpc.credentials.createInsecure(), {
        ...CHANNEL_OPTIONS,
        ...this.options,
      });
      this.clients.set(address, client);
      if (this.watchers.size > 0) this.follow(address, client);
    }
    return client;
  }

  /** The channel's state; `connect` makes an idle channel start connecting. Undefined: no channel yet. */
  state(address: string, connect = false): ChannelState | undefined {
    const client = this.clients.get(address);
    if (!client) return undefined;
    return STATE_NAMES[client.getChannel().getConnectivityState(connect)] ?? 'idle';
  }

  /** Calls `fn` on every state change of every channel of the pool, present and future. */
  onState(fn: (address: string, state: ChannelState) => void): void {
    const first = this.watchers.size === 0;
    this.watchers.add(fn);
    if (first) for (const [address, client] of this.clients) this.follow(address, client);
  }

  /** A fresh channel to `address` (the old one, in reconnect backoff, is closed). */
  renew(address: string): C {
    this.remove(address);
    return this.get(address);
  }

  private follow(address: string, client: C): void {
    const channel = client.getChannel();
    const loop = (last: grpc.connectivityState) => {
      if (this.clients.get(address) !== client || last === grpc.connectivityState.SHUTDOWN) return;
      // No deadline (no timer keeps the process up); a closed channel ends the watch with SHUTDOWN.
      try {
        channel.watchConnectivityState(last, Number.POSITIVE_INFINITY, () => {
          if (this.clients.get(address) !== client) return;
          const now = channel.getConnectivityState(false);
          if (now !== last) for (const fn of this.watchers) fn(address, STATE_NAMES[now] ?? 'idle');
          loop(now);
        });
      } catch {
        // shut down meanwhile
      }
    };
    loop(channel.getConnectivityState(false));
  }

  /** Closes the channel to a peer that left membership. */
  remove(address: string): void {
    this.clients.get(address)?.close();
    this.clients.delete(address);
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

/** Calls a unary method by name as a promise; rejects with the grpc ServiceError. */
export function unary<Req, Res>(
  client: grpc.Client,
  method: string,
  request: Req,
  deadlineMs = 5000,
): Promise<Res> {
  const fn = (client as unknown as Record<string, unknown>)[method];
  if (typeof fn !== 'function') return Promise.reject(new TypeError(`gRPC client has no method ${method}`));
  return new Promise<Res>((resolve, reject) => {
    fn.call(
      client,
      request,
      { deadline: Date.now() + deadlineMs },
      (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)),
    );
  });
}

/** An error a handler throws on purpose to answer with a specific status instead of INTERNAL. */
export class GrpcStatusError extends Error {
  override readonly name = 'GrpcStatusError';
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Adapts an async handler to grpc-js. A GrpcStatusError keeps its code; any other thrown error is
 * logged and answered with INTERNAL and its message, so a bug fails one call, not the process.
 */
export function asyncUnary<Req, Res>(
  handler: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
  logger?: Logger,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handler(call.request, call))
      .then(
        (res) => callback(null, res),
        (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          if (err instanceof GrpcStatusError) {
            logger?.debug({ code: err.code, method: call.getPath() }, message);
            callback({ code: err.code, details: message });
            return;
          }
          logger?.error({ err, method: call.getPath() }, 'gRPC handler failed');
          callback({ code: grpc.status.INTERNAL, details: message });
        },
      );
  };
}
