#!/usr/bin/env node
// Assembles what the image runs into <out>: the root manifest and lock, each workspace's package.json and
// the files its "files" field lists (built output, .proto, bin), then `npm ci --omit=dev` there, so the
// tree holds the services' production dependencies and nothing of the sources, tests or test tools.
// Usage: node deploy/runtime-tree.mjs <out>   (after `npm run build`, from the repository root)
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

const out = path.resolve(process.argv[2] ?? '');
if (!process.argv[2]) {
  console.error('usage: node deploy/runtime-tree.mjs <out>');
  process.exit(2);
}
const root = process.cwd();
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

/** Workspace folders from the root's "workspaces" globs (a trailing /* or a plain folder). */
function workspaces() {
  return manifest.workspaces.flatMap((pattern) => {
    if (!pattern.endsWith('/*')) return [pattern];
    const parent = pattern.slice(0, -2);
    return readdirSync(path.join(root, parent), { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(path.join(root, parent, d.name, 'package.json')))
      .map((d) => `${parent}/${d.name}`);
  });
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const file of ['package.json', 'package-lock.json']) cpSync(path.join(root, file), path.join(out, file));
for (const ws of workspaces()) {
  const pkg = JSON.parse(readFileSync(path.join(root, ws, 'package.json'), 'utf8'));
  mkdirSync(path.join(out, ws), { recursive: true });
  // npm needs every workspace of the lock; a workspace without "files" (the tests) ships its manifest only.
  writeFileSync(path.join(out, ws, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  for (const entry of pkg.files ?? []) {
    const from = path.join(root, ws, entry);
    if (!existsSync(from)) throw new Error(`${ws}: "${entry}" listed in files is missing (run npm run build first)`);
    cpSync(from, path.join(out, ws, entry), { recursive: true, filter: (src) => !/\.(test|fuzz\.test)\.(js|d\.ts)(\.map)?$/.test(src) });
  }
}
execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: out, stdio: 'inherit' });

// Type declarations and source maps of dependencies are never loaded at run time.
let removed = 0;
function prune(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) prune(file);
    else if (entry.isFile() && /\.(d\.[cm]?ts|map)$/.test(entry.name)) {
      removed += statSync(file).size;
      rmSync(file);
    }
  }
}
prune(path.join(out, 'node_modules'));
console.log(`runtime tree in ${out}; removed ${(removed / 1048576).toFixed(1)} MiB of type declarations and source maps`);
