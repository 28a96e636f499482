// A fake Kubernetes API server for tests of code that reads the API with @kubernetes/client-node: real
// HTTP with JSON bodies as the API server sends them (objects, v1 Status on errors, watch streams of
// newline-separated events), each test answering the paths it is about.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface FakeKubeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
}

/** An object (or list) to answer with, a watch to hold open, or undefined for a 404 Status. */
export type FakeKubeAnswer = { status?: number; body: object } | { watch: true } | undefined;

/** A v1 Status, the body of every API error. */
export function kubeStatus(code: number, reason: string, message?: string): object {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    reason,
    code,
    ...(message ? { message } : {}),
  };
}

export class FakeKubernetesApi {
  private server: Server | undefined;
  private watchers: ServerResponse[] = [];
  /** Every request as `METHOD /path[?query]`. */
  readonly requests: string[] = [];
  /** The Authorization header of every request ('' when absent). */
  readonly authorizations: string[] = [];
  /** Requests answered 503 ServiceUnavailable before the answers start (an API server restarting). */
  failuresBeforeAnswer = 0;
  private resourceVersion = 10;

  constructor(private readonly answer: (req: FakeKubeRequest) => FakeKubeAnswer) {}

  /** Listens on loopback; the KubeConfig points at it with `token` (if any) and `namespace`. */
  async start(opts: { token?: string; namespace?: string } = {}): Promise<KubeConfig> {
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'fake',
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: 'u', ...(opts.token ? { token: opts.token } : {}) }],
      contexts: [
        { name: 'c', cluster: 'fake', user: 'u', ...(opts.namespace ? { namespace: opts.namespace } : {}) },
      ],
      currentContext: 'c',
    });
    return kc;
  }

  /** The next resourceVersion, for objects a test lists or sends in events. */
  nextResourceVersion(): string {
    return String(++this.resourceVersion);
  }

  /** Sends a watch event to every open watch; the object gets the next resourceVersion. */
  event(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: { metadata: { resourceVersion?: string } }): void {
    object.metadata.resourceVersion = this.nextResourceVersion();
    for (const w of this.watchers) w.write(`${JSON.stringify({ type, object })}\n`);
  }

  get currentResourceVersion(): string {
    return String(this.resourceVersion);
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.end();
    this.watchers = [];
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = url.searchParams.toString();
    const method = req.method ?? 'GET';
    this.requests.push(`${method} ${url.pathname}${query ? `?${query}` : ''}`);
    this.authorizations.push(req.headers.authorization ?? '');
    const json = (status: number, body: object) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (this.failuresBeforeAnswer > 0) {
      this.failuresBeforeAnswer--;
      json(503, kubeStatus(503, 'ServiceUnavailable'));
      return;
    }
    const answer = this.answer({ method, path: url.pathname, query: url.searchParams });
    if (answer === undefined) json(404, kubeStatus(404, 'NotFound', `${url.pathname} not found`));
    else if ('watch' in answer) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      this.watchers.push(res);
    } else json(answer.status ?? 200, answer.body);
  }
}
