import type { Logger } from './logging.js';

export interface ShutdownOptions {
  logger: Logger;
  /** Stop taking new work, finish or hand off what is in flight. Runs once. */
  drain: () => Promise<void>;
  /** After this long the process exits 1 even if drain has not finished; default 20000. */
  timeoutMs?: number;
  /** Injectable for tests; default the real process. */
  process?: Pick<NodeJS.Process, 'on' | 'exit'>;
  signals?: NodeJS.Signals[];
}

/**
 * On SIGTERM/SIGINT: run drain once, then exit 0. A second signal, a failing drain or the timeout
 * exit 1 (Kubernetes sends SIGKILL after terminationGracePeriodSeconds anyway).
 */
export function installShutdown(opts: ShutdownOptions): void {
  const proc = opts.process ?? process;
  const timeoutMs = opts.timeoutMs ?? 20_000;
  let draining = false;
  let exited = false;
  const exit = (code: number): void => {
    if (exited) return;
    exited = true;
    proc.exit(code);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (draining) {
      opts.logger.warn({ signal }, 'second signal while draining: exiting now');
      exit(1);
      return;
    }
    draining = true;
    opts.logger.info({ signal, timeoutMs }, 'draining before exit');
    const timer = setTimeout(() => {
      opts.logger.error({ timeoutMs }, 'drain timed out: exiting');
      exit(1);
    }, timeoutMs);
    Promise.resolve()
      .then(() => opts.drain())
      .then(
        () => {
          clearTimeout(timer);
          opts.logger.info('drained: exiting');
          exit(0);
        },
        (err: unknown) => {
          clearTimeout(timer);
          opts.logger.error({ err }, 'drain failed: exiting');
          exit(1);
        },
      );
  };
  for (const signal of opts.signals ?? (['SIGTERM', 'SIGINT'] as NodeJS.Signals[])) proc.on(signal, onSignal);
}
