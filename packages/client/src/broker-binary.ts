// Finds the embedded broker's program for `sip-pubsub serve`. The SDK never imports a service: the
// broker is a separate package whose bin npm links into node_modules/.bin.
import { existsSync } from 'node:fs';
import path from 'node:path';

export const BROKER_BIN = 'sip-pubsub-broker';

/** node_modules/.bin/sip-pubsub-broker in each start directory or one of its ancestors, nearest first. */
export function findBrokerBinary(
  startDirs: readonly string[],
  exists: (file: string) => boolean = existsSync,
): string | undefined {
  const names = process.platform === 'win32' ? [`${BROKER_BIN}.cmd`, BROKER_BIN] : [BROKER_BIN];
  for (const start of startDirs) {
    let dir = path.resolve(start);
    for (;;) {
      for (const name of names) {
        const candidate = path.join(dir, 'node_modules', '.bin', name);
        if (exists(candidate)) return candidate;
      }
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return undefined;
}

export class BrokerNotInstalledError extends Error {
  override readonly name = 'BrokerNotInstalledError';
  constructor(searched: readonly string[]) {
    super(
      `the embedded broker is not installed: no node_modules/.bin/${BROKER_BIN} above ${searched.join(' or ')}. ` +
        'Install it with "npm install @sip-pubsub/embedded" (or run "npm start" in the sip-pubsub repository).',
    );
  }
}
