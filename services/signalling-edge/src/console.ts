// Serves the operator console on the process's HTTP port: `/` redirects to `/console`, the page and its
// bundle (built by scripts/bundle-console.mjs into dist/console) and the settings the page needs to reach
// this edge over SIP on WebSocket.
import { readFile } from 'node:fs/promises';
import type { HttpRoute } from '@sip-pubsub/platform';

export interface ConsoleSettings {
  domain: string;
  factoryUri: string;
  wsPort?: number;
  wssPort?: number;
}

/** dist/console, from src/ (tests) as from dist/ (the built service). */
const ASSETS = new URL('../dist/console/', import.meta.url);
const FILES: Record<string, { file: string; type: string }> = {
  '/console': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
};

export function consoleRoute(settings: ConsoleSettings): HttpRoute {
  const cache = new Map<string, Buffer>();
  const asset = async (file: string): Promise<Buffer | undefined> => {
    const known = cache.get(file);
    if (known) return known;
    try {
      const body = await readFile(new URL(file, ASSETS));
      cache.set(file, body);
      return body;
    } catch {
      return undefined;
    }
  };
  return async (path, _req, res) => {
    if (path === '/') {
      res.writeHead(302, { location: '/console' });
      res.end();
      return true;
    }
    if (path === '/console/config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(settings));
      return true;
    }
    const known = FILES[path];
    if (!known) return false;
    const body = await asset(known.file);
    if (!body) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('console not built (npm run build bundles it)\n');
      return true;
    }
    res.writeHead(200, {
      'content-type': known.type,
      'cache-control': 'no-cache',
      'content-security-policy':
        "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'",
      'x-content-type-options': 'nosniff',
    });
    res.end(body);
    return true;
  };
}
