// The notifier's access list: ACL_FILE watched and reloaded (the same file and format as the focus's;
// README "Access lists"). Here it decides `watch`: conference SUBSCRIBEs and what the directory shows.
import { AccessList, parseAccessList } from '@sip-pubsub/events';
import { ConfigError, type Logger, type WatchedFile, watchFile } from '@sip-pubsub/platform';

export async function loadAccessList(
  config: { ACL_FILE?: string; ACL_DEFAULT: 'allow' | 'deny'; ACL_POLL_INTERVAL_MS: number },
  logger: Logger,
): Promise<{ current(): AccessList; close(): void }> {
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
