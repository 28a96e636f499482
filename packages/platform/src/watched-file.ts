// A configuration file that is read again when it changes, such as a Kubernetes ConfigMap mounted as a
// volume: the kubelet swaps the `..data` symlink of the volume's directory, so the directory is watched
// (not the file, whose inode the watch would keep), and a poll catches what fs.watch misses (some
// volume types never report). A file that no longer parses keeps the last good value.
import { type FSWatcher, watch as watchDirectory } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from './logging.js';

export interface WatchedFileOptions<T> {
  path: string;
  /** Turns the file's text into a value; throws (naming the line) when the text is not acceptable. */
  parse: (text: string) => T;
  logger: Logger;
  /** Safety net for volumes without change events; default 5 s. */
  pollIntervalMs?: number;
  /** Changes are read this long after the last event, so a file being written is not read half-done. */
  settleMs?: number;
  /** Called after each successful reload (not for the first read). */
  onReload?: (value: T) => void;
}

export interface WatchedFile<T> {
  current(): T;
  /** Reads the file now; resolves true when a new value was taken. */
  check(): Promise<boolean>;
  close(): void;
}

/** Reads and parses the file; rejects when the first read or parse fails (the service must not start). */
export async function watchFile<T>(opts: WatchedFileOptions<T>): Promise<WatchedFile<T>> {
  const file = path.resolve(opts.path);
  let text = await readFile(file, 'utf8');
  let value = opts.parse(text);
  let closed = false;
  let checking: Promise<boolean> | undefined;

  const reload = async (): Promise<boolean> => {
    let next: string;
    try {
      next = await readFile(file, 'utf8');
    } catch (err) {
      // A symlink swap in progress, or a deleted file: keep serving the last good value.
      opts.logger.warn(
        { file, err: (err as Error).message },
        'watched file unreadable; keeping the last good one',
      );
      return false;
    }
    if (next === text) return false;
    try {
      const parsed = opts.parse(next);
      text = next;
      value = parsed;
    } catch (err) {
      text = next; // log a bad version once, not on every poll
      opts.logger.error(
        { file, err: (err as Error).message },
        'watched file rejected; keeping the previous one',
      );
      return false;
    }
    opts.logger.info({ file }, 'watched file reloaded');
    opts.onReload?.(value);
    return true;
  };
  const check = (): Promise<boolean> => {
    if (closed) return Promise.resolve(false);
    // One read at a time; a change during a read is caught by the next event or poll.
    checking ??= reload().finally(() => {
      checking = undefined;
    });
    return checking;
  };

  let settling: NodeJS.Timeout | undefined;
  const soon = () => {
    if (settling) clearTimeout(settling);
    settling = setTimeout(() => {
      settling = undefined;
      void check();
    }, opts.settleMs ?? 100);
    settling.unref();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watchDirectory(path.dirname(file), { persistent: false }, soon);
    watcher.on('error', (err) =>
      opts.logger.warn({ file, err: err.message }, 'directory watch failed; polling only'),
    );
  } catch (err) {
    opts.logger.warn({ file, err: (err as Error).message }, 'cannot watch the directory; polling only');
  }
  const poll = setInterval(() => void check(), opts.pollIntervalMs ?? 5_000);
  poll.unref();

  return {
    current: () => value,
    check,
    close() {
      closed = true;
      clearInterval(poll);
      if (settling) clearTimeout(settling);
      watcher?.close();
    },
  };
}
