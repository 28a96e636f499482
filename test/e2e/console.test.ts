// The operator console in a real browser: headless Chromium (Debian's `chromium`, driven with
// puppeteer-core) opens the embedded broker's HTTP port, the page's bundled JsSIP talks SIP over
// WebSocket to the edge, and what the page shows is asserted while a real publisher (the project's
// client, over UDP and RTP) joins and publishes. The SIP WebSocket refuses a foreign Origin with 403.
// Screenshot: test/output/console.png.
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import * as path from 'node:path';
import { type SenmlPack, SipPubSubClient } from '@sip-pubsub/client';
import { freePort } from '@sip-pubsub/platform';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ROOT, type RunningBroker, startEmbedded } from '../support/brokers.js';
import { token } from '../support/raw-sip.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOT = path.join(ROOT, 'test/output/console.png');

/** Status of the WebSocket handshake with this Origin: 101 when it opened. */
async function handshakeStatus(port: number, origin: string): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, 'sip', { origin });
  ws.on('error', () => {});
  try {
    const outcome = await Promise.race([
      once(ws, 'open').then(() => 101),
      once(ws, 'unexpected-response').then(([, res]) => (res as IncomingMessage).statusCode ?? 0),
    ]);
    return outcome;
  } finally {
    ws.terminate();
  }
}

describe('operator console in headless Chromium (embedded broker)', () => {
  let broker: RunningBroker;
  let httpPort: number;
  let wsPort: number;
  let browser: Browser | undefined;
  let client: SipPubSubClient | undefined;

  beforeAll(async () => {
    httpPort = await freePort('tcp');
    wsPort = await freePort('tcp');
    broker = await startEmbedded({
      SIP_TRANSPORTS: 'udp,tcp,ws',
      SIP_WS_PORT: String(wsPort),
      HTTP_PORT: String(httpPort),
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await client?.close().catch(() => undefined);
    await broker?.stop();
  });

  it('the SIP WebSocket takes the console origin and refuses another one with 403', async () => {
    expect(await handshakeStatus(wsPort, 'http://evil.example')).toBe(403);
    expect(await handshakeStatus(wsPort, `http://127.0.0.1:${httpPort}`)).toBe(101);
  });

  it('shows the topic with its counts, its roster and a live reading', async () => {
    const topic = `console/${token(3)}/hall`;
    client = await SipPubSubClient.connect({ server: `127.0.0.1:${broker.sipPort}`, user: 'hall-sensor' });
    const publisher = await client.publisher(topic);
    const pack = (v: number): SenmlPack => [{ bn: 'urn:dev:hall:', n: 'temp', u: 'Cel', v }];

    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      // A first start of Chromium on a busy two-core machine has taken longer than puppeteer's 30 s.
      timeout: 90_000,
    });
    const page: Page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    await page.setViewport({ width: 1100, height: 640 });
    // `/` redirects to the console.
    await page.goto(`http://127.0.0.1:${httpPort}/`, { waitUntil: 'load' });
    expect(new URL(page.url()).pathname).toBe('/console');

    const row = `#topics tr[data-topic="${topic}"]`;
    await page.waitForSelector(row, { timeout: 20_000 });
    const cells = () => page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent));
    await page.waitForFunction(
      (sel) => document.querySelector(sel)?.children[1]?.textContent === '1',
      {},
      row,
    );
    expect(await cells()).toEqual([topic, '1', '0']);
    expect(await page.$eval('#status', (el) => el.textContent)).toMatch(/^connected to ws:\/\/127\.0\.0\.1:/);

    await page.click(row);
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('#roster tr')].some((tr) => tr.textContent?.includes('hall-sensor')),
      { timeout: 20_000 },
    );
    const roster = await page.$$eval('#roster tr', (trs) =>
      trs.map((tr) => [...tr.cells].map((c) => c.textContent)),
    );
    expect(roster).toEqual([[expect.stringContaining('sip:hall-sensor@'), 'publisher']]);

    await publisher.publish(pack(21.5));
    const reading = '#readings tr[data-name="urn:dev:hall:temp"]';
    await page.waitForFunction(
      (sel) => document.querySelector(sel)?.children[1]?.textContent === '21.5',
      {},
      reading,
    );
    await publisher.publish(pack(22.25));
    await page.waitForFunction(
      (sel) => document.querySelector(sel)?.children[1]?.textContent === '22.25',
      {},
      reading,
    );
    expect(await page.$$eval(`${reading} td`, (tds) => tds.map((td) => td.textContent))).toEqual([
      'urn:dev:hall:temp',
      '22.25',
      'Cel',
      expect.any(String),
    ]);
    // The chart drew one series of the two numeric values.
    const points = await page.$eval('#chart polyline', (line) => line.getAttribute('points') ?? '');
    expect(points.split(' ')).toHaveLength(2);

    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT as `${string}.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 180_000);
});
