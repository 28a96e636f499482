import { pino } from 'pino';
import { defaultInstanceId } from './config.js';

export type Logger = import('pino').Logger;

export interface LoggerOptions {
  level?: string;
  /** Defaults to stdout. */
  destination?: NodeJS.WritableStream;
  /** Replica id written on every line; defaults to hostname-pid-random. */
  instance?: string;
}

/** JSON lines with `service` and `instance` on every line and the level as a word. */
export function createLogger(service: string, opts: LoggerOptions = {}): Logger {
  const options = {
    level: opts.level ?? 'info',
    base: { service, instance: opts.instance ?? defaultInstanceId() },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

let fallback: Logger | undefined;

/** Used by platform objects constructed without a logger: warnings and errors to stderr. */
export function fallbackLogger(): Logger {
  fallback ??= pino(
    {
      level: 'warn',
      base: { service: 'platform' },
      formatters: { level: (label: string) => ({ level: label }) },
    },
    pino.destination(2),
  );
  return fallback;
}
