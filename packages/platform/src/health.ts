import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logging.js';

export interface HealthServerOptions {
  host: string;
  port: number;
  registry: Registry;
  logger?: Logger;
}

/** Serves a GET/HEAD path it knows and returns true; false passes the request on. */
export type HttpRoute = (
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
) => boolean | Promise<boolean>;

/** Where a service adds its own pages to the process's HTTP port (the edge's console). */
export interface HttpMounts {
  mount(route: HttpRoute): void;
}

/**
 * /healthz: alive while the process runs; /readyz: ready to take work (set by the service);
 * /metrics: Prometheus text from the registry.
 */
export class HealthServer implements HttpMounts {
  private server: Server | undefined;
  private readonly routes: HttpRoute[] = [];
  private ready = false;
  private notReadyReason = 'starting';

  constructor(private readonly opts: HealthServerOptions) {}

  setReady(ready: boolean, reason?: string): void {
    if (ready !== this.ready) this.opts.logger?.info({ ready, reason }, ready ? 'ready' : 'not ready');
    this.ready = ready;
    this.notReadyReason = ready ? '' : (reason ?? 'not ready');
  }

  mount(route: HttpRoute): void {
    this.routes.push(route);
  }

  get isReady(): boolean {
    return this.ready;
  }

  async start(): Promise<{ port: number }> {
    if (this.server) throw new Error('HealthServer already started');
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.opts.logger?.error({ err }, 'health endpoint failed');
        if (!res.headersSent) reply(res, 500, 'text/plain', 'internal error\n');
        else res.destroy();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    this.opts.logger?.info({ host: this.opts.host, port }, 'health server listening');
    return { port };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(res, 405, 'text/plain', 'method not allowed\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/healthz':
        reply(res, 200, 'text/plain', 'ok\n');
        return;
      case '/readyz':
        if (this.ready) reply(res, 200, 'text/plain', 'ready\n');
        else reply(res, 503, 'text/plain', `${this.notReadyReason}\n`);
        return;
      case '/metrics': {
        const body = await this.opts.registry.metrics();
        reply(res, 200, this.opts.registry.contentType, body);
        return;
      }
      default:
        for (const route of this.routes) if (await route(path, req, res)) return;
        reply(res, 404, 'text/plain', 'not found\n');
    }
  }
}

function reply(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}
