// ACL_FILE as the focus and the notifier use it (README "Access lists"): parsed at start-up (a bad file
// stops the process naming the setting), then watched and reloaded; without the setting everything is open.
import { ConfigError, type Logger, type WatchedFile, watchFile } from '@sip-pubsub/platform';
import { AccessList, parseAccessList } from './access-list.js';

export interface AccessListSettings {
  ACL_FILE?: string;
  ACL_DEFAULT: 'allow' | 'deny';
  ACL_POLL_INTERVAL_MS: number;
}

export interface LoadedAccessList {
  current(): AccessList;
  close(): void;
}

export async function loadAccessList(config: AccessListSettings, logger: Logger): Promise<LoadedAccessList> {
  const file = config.ACL_FILE;
  if (file === undefined) return { current: () => AccessList.OPEN, close: () => undefined };
  let watched: WatchedFile<AccessList>;
  try {
    watched = await watchFile({
      path: file,
      parse: (text) => new AccessList(parseAccessList(text, file), config.ACL_DEFAULT),
      logger,
      pollIntervalMs: config.ACL_POLL_INTERVAL_MS,
      onReload: (acl) => logger.info({ file, rules: acl.rules.length }, 'access list reloaded'),
    });
  } catch (err) {
    // Unreadable or invalid at start-up: refuse to start, naming the setting and the line.
    throw new ConfigError('ACL_FILE', `ACL_FILE: ${(err as Error).message}`);
  }
  logger.info({ file, rules: watched.current().rules.length, default: config.ACL_DEFAULT }, 'access list on');
  return watched;
}
