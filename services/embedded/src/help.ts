// The command line of `sip-pubsub-broker` (`npm start`): it takes its settings from the environment and
// answers only `--help`, which lists every variable the one process reads with its default, taken from
// the services' own schemas so that the list cannot drift from what is read.
import type { z } from 'zod';

export type BrokerArgs = { kind: 'run' } | { kind: 'help' } | { kind: 'usage-error'; message: string };

/** `[]` runs the broker, `--help`/`-h` prints help; anything else is refused, naming the argument. */
export function parseBrokerArgs(argv: readonly string[]): BrokerArgs {
  if (argv.length === 0) return { kind: 'run' };
  const unknown = argv.find((a) => a !== '--help' && a !== '-h');
  if (unknown === undefined) return { kind: 'help' };
  return {
    kind: 'usage-error',
    message:
      `unknown argument "${unknown}": the broker takes its settings from environment variables ` +
      '(sip-pubsub-broker --help lists them)',
  };
}

/** Variables the embedded broker sets itself for its services (loopback gRPC): not the user's to set. */
const SET_BY_THE_BROKER = new Set(['GRPC_HOST', 'GRPC_PORT', 'GRPC_ADVERTISE_HOST']);

export interface Setting {
  name: string;
  /** As the process would read it with the variable unset; `(unset)` when it stays unset. */
  defaultValue: string;
}

/** Every variable of `schemas` (once each, by name), with the default the schema gives an unset one. */
export function settingsOf(schemas: readonly z.ZodObject<z.ZodRawShape>[]): Setting[] {
  const byName = new Map<string, Setting>();
  for (const schema of schemas) {
    for (const [name, field] of Object.entries(schema.shape)) {
      if (byName.has(name) || SET_BY_THE_BROKER.has(name)) continue;
      byName.set(name, { name, defaultValue: defaultOf(field as z.ZodType) });
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function defaultOf(field: z.ZodType): string {
  const first = field.safeParse(undefined);
  if (!first.success) return '(required)';
  // A default made at load time (a random secret, the host name) is not one value to print.
  const second = field.safeParse(undefined);
  if (JSON.stringify(first.data) !== JSON.stringify(second.data)) return '(generated)';
  const value: unknown = first.data;
  if (value === undefined) return '(unset)';
  if (value === '') return '(empty)';
  if (Array.isArray(value)) return value.join(',');
  if (typeof value !== 'object' || value === null) return String(value);
  // A token bucket is written `rate:burst` (SIP_RATE_PER_SOURCE and its kin).
  const { rate, burst } = value as { rate?: unknown; burst?: unknown };
  if (typeof rate === 'number' && typeof burst === 'number') return `${rate}:${burst}`;
  return JSON.stringify(value);
}

export function helpText(settings: readonly Setting[]): string {
  const width = Math.max(...settings.map((s) => s.name.length));
  return [
    'Usage: sip-pubsub-broker [--help]     (npm start in the repository)',
    '',
    'Runs the whole broker in one process: signalling-edge, focus-controller, media-relay and notifier',
    'with an in-process bus and KV (or NATS and JetStream KV when NATS_URL is set). It takes no other',
    'argument: every setting is an environment variable. README.md ("Configuration") says what each does.',
    '',
    'Variables read, with the value used when unset:',
    ...settings.map((s) => `  ${s.name.padEnd(width)}  ${s.defaultValue}`),
    '',
  ].join('\n');
}
