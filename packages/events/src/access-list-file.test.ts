import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ConfigError, createLogger } from '@sip-pubsub/platform';
import { describe, expect, it } from 'vitest';
import { loadAccessList } from './access-list-file.js';

describe('loadAccessList', () => {
  const logger = createLogger('test', { level: 'silent' });
  const settings = (file?: string) => ({
    ACL_FILE: file,
    ACL_DEFAULT: 'deny' as const,
    ACL_POLL_INTERVAL_MS: 60_000,
  });

  it('without ACL_FILE everything is allowed', async () => {
    const acl = await loadAccessList(settings(), logger);
    expect(acl.current().allows('', 'create', 'any/topic')).toBe(true);
  });

  it('a bad file at start-up is a configuration error naming the line', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'acl-'));
    try {
      await writeFile(path.join(dir, 'acl'), 'allow * watch #\nallow * read #\n');
      const failed = loadAccessList(settings(path.join(dir, 'acl')), logger);
      await expect(failed).rejects.toBeInstanceOf(ConfigError);
      await expect(failed).rejects.toThrow(/^ACL_FILE: .*acl line 2: unknown action 'read'/);
      await writeFile(path.join(dir, 'acl'), 'deny bob watch #\n');
      const acl = await loadAccessList(settings(path.join(dir, 'acl')), logger);
      expect(acl.current().allows('bob', 'watch', 't')).toBe(false);
      expect(acl.current().allows('alice', 'watch', 't')).toBe(false); // ACL_DEFAULT deny
      acl.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
