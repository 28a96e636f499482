import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { consoleRoute } from './console.js';

describe('console route', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('redirects / to /console, serves the built page and bundle, the settings, and passes other paths on', async () => {
    const route = consoleRoute({
      domain: 'sip.example',
      factoryUri: 'sip:factory@sip.example',
      wsPort: 5066,
    });
    server = createServer(async (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (!(await route(path, req, res))) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const root = await fetch(`${base}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/console');
    const page = await fetch(`${base}/console`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<script src="/console/console.js"></script>');
    const bundle = await fetch(`${base}/console/console.js`);
    expect(bundle.headers.get('content-type')).toMatch(/^text\/javascript/);
    // JsSIP is in the bundle, not fetched from elsewhere.
    expect(await bundle.text()).toMatch(/JsSIP/);
    expect(await (await fetch(`${base}/console/config.json`)).json()).toEqual({
      domain: 'sip.example',
      factoryUri: 'sip:factory@sip.example',
      wsPort: 5066,
    });
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
  });
});
