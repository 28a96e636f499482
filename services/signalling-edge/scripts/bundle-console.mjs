// Bundles the operator console (console/console.ts with JsSIP) into dist/console for the HTTP port to serve.
import { copyFile, mkdir } from 'node:fs/promises';
import { build } from 'esbuild';

const out = new URL('../dist/console/', import.meta.url);
await mkdir(out, { recursive: true });
await build({
  entryPoints: [new URL('../console/console.ts', import.meta.url).pathname],
  outfile: new URL('console.js', out).pathname,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  legalComments: 'external',
  logLevel: 'warning',
});
await copyFile(new URL('../console/index.html', import.meta.url), new URL('index.html', out));
