import { createRequire } from 'node:module';
import { pino } from 'pino';
import { defaultInstanceId } from './config.js';
import { requestLogFields } from './request-log.js';

export type Logger = import('pino').Logger;

export interface LoggerOptions {
  level?: string;
  /** Defaults to stdout. */
  destination?: NodeJS.WritableStream;
  /** Replica id written on every line; defaults to hostname-pid-random. */
  instance?: string;
  /** Human-readable lines (pino-pretty) instead of JSON; default: when writing to stdout and it is a terminal. */
  pretty?: boolean;
}

// The service a logger speaks for. Children inherit it (pino children are Object.create(parent)), and a
// service logger made from another replaces it, so each line carries exactly one `service` key.
const SERVICE = Symbol('sip-pubsub.service');
type WithService = Logger & { [SERVICE]?: string };

/** Whether the default output (stdout) should be human-readable: only when it is a terminal. */
export function prettyByDefault(stdout: { isTTY?: boolean } = process.stdout): boolean {
  return stdout.isTTY === true;
}

/** JSON lines with `service`, `instance` (and within a request its callId and conferenceId) on every line and the level as a word (pretty on a terminal). */
export function createLogger(service: string, opts: LoggerOptions = {}): Logger {
  const options = {
    level: opts.level ?? 'info',
    base: { instance: opts.instance ?? defaultInstanceId() },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    // The request being handled (request-log.ts), then the service; a line's own fields win.
    mixin: (_merge: object, _level: number, logger: Logger) => ({
      ...requestLogFields(),
      service: (logger as WithService)[SERVICE],
    }),
  };
  const pretty = opts.pretty ?? (!opts.destination && prettyByDefault());
  let logger: WithService;
  if (pretty) {
    // Loaded only for a terminal, so JSON-logging processes never load it.
    const pinoPretty = createRequire(import.meta.url)('pino-pretty') as (o: object) => NodeJS.WritableStream;
    const stream = pinoPretty({
      destination: opts.destination ?? 1,
      colorize: !opts.destination,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,instance,service',
      messageFormat: '{service}: {msg}',
      hideObject: false,
      sync: true,
    });
    logger = pino(options, stream);
  } else logger = opts.destination ? pino(options, opts.destination) : pino(options);
  logger[SERVICE] = service;
  return logger;
}

/** A child of `parent` whose lines name `service` instead (the embedded broker's four services). */
export function serviceLogger(parent: Logger, service: string): Logger {
  const child = parent.child({}) as WithService;
  child[SERVICE] = service;
  return child;
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
