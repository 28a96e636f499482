import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from './logging.js';
import { watchFile } from './watched-file.js';

const logger = createLogger('test', { level: 'silent' });
const parse = (text: string) => {
  if (text.includes('bad')) throw new Error('line 1: bad');
  return text.trim();
};

/** Writes as editors and kubectl do: a new file renamed over the old one. */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

describe('watchFile', () => {
  const dirs: string[] = [];
  const temp = async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'watched-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('takes a rewritten file, keeps the last good value for a bad one, then takes the next good one', async () => {
    const dir = await temp();
    const file = path.join(dir, 'acl');
    await writeFile(file, 'one');
    const reloads: string[] = [];
    const watched = await watchFile({ path: file, parse, logger, onReload: (v) => reloads.push(v) });
    try {
      expect(watched.current()).toBe('one');
      await replace(file, 'two');
      await vi.waitFor(() => expect(watched.current()).toBe('two'), { timeout: 10_000, interval: 20 });
      await replace(file, 'bad');
      expect(await watched.check()).toBe(false);
      expect(watched.current()).toBe('two');
      await replace(file, 'three');
      await vi.waitFor(() => expect(watched.current()).toBe('three'), { timeout: 10_000, interval: 20 });
      expect(reloads).toEqual(['two', 'three']);
    } finally {
      watched.close();
    }
  });

  it('follows a ConfigMap-style update: the ..data symlink swapped to a new directory', async () => {
    const dir = await temp();
    await mkdir(path.join(dir, '..v1'));
    await writeFile(path.join(dir, '..v1', 'acl'), 'first');
    await symlink('..v1', path.join(dir, '..data'));
    await symlink(path.join('..data', 'acl'), path.join(dir, 'acl'));
    const watched = await watchFile({ path: path.join(dir, 'acl'), parse, logger });
    try {
      expect(watched.current()).toBe('first');
      await mkdir(path.join(dir, '..v2'));
      await writeFile(path.join(dir, '..v2', 'acl'), 'second');
      await symlink('..v2', path.join(dir, '..data_tmp'));
      await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      await rm(path.join(dir, '..v1'), { recursive: true });
      await vi.waitFor(() => expect(watched.current()).toBe('second'), { timeout: 10_000, interval: 20 });
    } finally {
      watched.close();
    }
  });

  it('keeps the last good value while the file is missing', async () => {
    const dir = await temp();
    const file = path.join(dir, 'acl');
    await writeFile(file, 'kept');
    const watched = await watchFile({ path: file, parse, logger });
    try {
      await rm(file);
      expect(await watched.check()).toBe(false);
      expect(watched.current()).toBe('kept');
    } finally {
      watched.close();
    }
  });

  it('refuses to start on a file that does not parse or does not exist', async () => {
    const dir = await temp();
    await writeFile(path.join(dir, 'acl'), 'bad');
    await expect(watchFile({ path: path.join(dir, 'acl'), parse, logger })).rejects.toThrow('line 1: bad');
    await expect(watchFile({ path: path.join(dir, 'none'), parse, logger })).rejects.toThrow(/ENOENT/);
  });
});
