import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';

/** A configuration variable is missing or malformed; `variable` names it for the operator. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

/** Process exit code for a configuration error (sysexits.h EX_CONFIG). */
export const EXIT_CONFIG = 78;

type Env = Record<string, string | undefined>;

// Kubernetes manifests often render unset values as empty strings: treat them as absent.
function present(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  return raw.trim() === '' ? undefined : raw.trim();
}

/**
 * Builds an env-string schema: unset/empty → `defaultValue`, otherwise `parse` must return a value
 * or undefined (then `expected` becomes the issue message; loadConfig appends what it got).
 */
function envValue<T>(defaultValue: T, expected: string, parse: (raw: string) => T | undefined): z.ZodType<T> {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = present(raw);
      if (value === undefined) return defaultValue;
      const parsed = parse(value);
      if (parsed === undefined) {
        ctx.addIssue({ code: 'custom', message: expected });
        return z.NEVER;
      }
      return parsed;
    });
}

function parseInteger(raw: string, min: number, max: number): number | undefined {
  if (!/^[+-]?\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseDuration(raw: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw);
  if (!match) return undefined;
  const ms = Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? 'ms']);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

function describeRange(min: number, max: number): string {
  if (min === Number.MIN_SAFE_INTEGER && max === Number.MAX_SAFE_INTEGER) return 'an integer';
  if (max === Number.MAX_SAFE_INTEGER) return `an integer ≥ ${min}`;
  if (min === Number.MIN_SAFE_INTEGER) return `an integer ≤ ${max}`;
  return `an integer ${min}–${max}`;
}

/** zod helpers that read environment strings; an unset or empty variable takes the default. */
export const env = {
  port(defaultValue: number): z.ZodType<number> {
    return envValue(defaultValue, 'expected an integer 0–65535', (raw) => parseInteger(raw, 0, 65535));
  },
  int(defaultValue: number, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): z.ZodType<number> {
    return envValue(defaultValue, `expected ${describeRange(min, max)}`, (raw) =>
      parseInteger(raw, min, max),
    );
  },
  bool(defaultValue: boolean): z.ZodType<boolean> {
    return envValue(defaultValue, 'expected true/false/1/0/yes/no', (raw) => {
      const v = raw.toLowerCase();
      if (v === 'true' || v === '1' || v === 'yes') return true;
      if (v === 'false' || v === '0' || v === 'no') return false;
      return undefined;
    });
  },
  string(defaultValue: string): z.ZodType<string> {
    return envValue(defaultValue, 'expected a string', (raw) => raw);
  },
  optionalString(): z.ZodType<string | undefined> {
    return envValue<string | undefined>(undefined, 'expected a string', (raw) => raw);
  },
  enumOf<T extends string>(values: readonly T[], defaultValue: T): z.ZodType<T> {
    return envValue(defaultValue, `expected one of ${values.join(', ')}`, (raw) =>
      values.find((v) => v === raw),
    );
  },
  durationMs(defaultValue: number): z.ZodType<number> {
    return envValue(
      defaultValue,
      "expected a duration: integer milliseconds or a number with ms/s/m/h (e.g. '5s')",
      parseDuration,
    );
  },
};

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A unique-enough replica id when neither INSTANCE_ID nor POD_NAME is set: hostname-pid-random. */
export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The variables every service reads, for a given default health/metrics port. */
export function baseConfig(defaultHttpPort: number) {
  return {
    LOG_LEVEL: env.enumOf(LOG_LEVELS, 'info'),
    HTTP_PORT: env.port(defaultHttpPort),
    HTTP_HOST: env.string('0.0.0.0'),
    /** Unset: the in-process bus and KV are used. */
    NATS_URL: env.optionalString(),
    /** Copies of each KV bucket in a JetStream cluster (1 for a single nats-server; 3 for a 3-node cluster). */
    NATS_KV_REPLICAS: env.int(1, 1, 5),
    /** How long KV operations wait for a clustered bucket to elect a new leader (after a node died) before failing. */
    NATS_KV_LEADERLESS_RETRY_MS: env.durationMs(10_000),
    POD_NAME: env.optionalString(),
    /** `nats`: heartbeats on pubsub.members.<service>; `kubernetes`: EndpointSlices of each service's Service. */
    MEMBERSHIP: env.enumOf(['nats', 'kubernetes'] as const, 'nats'),
    /** Namespace of the Services to watch (the downward API's metadata.namespace). */
    POD_NAMESPACE: env.optionalString(),
    /** Prefix of the Kubernetes Service names, e.g. a Helm release's `<release>-sip-pubsub-`. */
    K8S_SERVICE_PREFIX: env.string(''),
    INSTANCE_ID: env.optionalString(),
  };
}

/** Spread into a service schema; override HTTP_PORT with `env.port(<service default>)`. */
export const baseConfigShape = baseConfig(9100);

/** The replica id: INSTANCE_ID, else POD_NAME (Kubernetes downward API), else hostname-pid-random. */
export function instanceId(config: { INSTANCE_ID?: string; POD_NAME?: string }): string {
  return config.INSTANCE_ID ?? config.POD_NAME ?? defaultInstanceId();
}

function describeRaw(raw: string | undefined): string {
  return raw === undefined ? 'but it is not set' : `got ${JSON.stringify(raw)}`;
}

/** Validates `env` against `schema`; throws ConfigError naming the first bad variable. */
// biome-ignore lint/suspicious/noExplicitAny: accepts any object schema (contract signature)
export function loadConfig<S extends z.ZodObject<any>>(schema: S, env: Env = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const variable = issue.path.length > 0 ? String(issue.path[0]) : '(environment)';
  const raw = issue.path.length > 0 ? env[variable] : undefined;
  throw new ConfigError(variable, `${variable}: ${issue.message}, ${describeRaw(raw)}`);
}

/** loadConfig for a process entry point: a bad variable prints its message and exits with 78. */
// biome-ignore lint/suspicious/noExplicitAny: accepts any object schema (contract signature)
export function loadConfigOrExit<S extends z.ZodObject<any>>(schema: S, env: Env = process.env): z.infer<S> {
  try {
    return loadConfig(schema, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`configuration error: ${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
}
