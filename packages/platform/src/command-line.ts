// The command line of every process (`sip-pubsub-broker`, which `npm start` runs, and each service's
// main): settings come from the environment only, so the one argument taken is `--help`, which lists
// every variable the process reads with its default, from the schemas it loads (the list cannot drift
// from what is read). Any other argument is refused by name rather than ignored.
import type { z } from 'zod';

export type ProcessArgs = { kind: 'run' } | { kind: 'help' } | { kind: 'usage-error'; message: string };

/** `[]` runs, `--help`/`-h` asks for help; anything else is refused, naming the first such argument. */
export function parseProcessArgs(argv: readonly string[], program: string): ProcessArgs {
  if (argv.length === 0) return { kind: 'run' };
  const unknown = argv.find((a) => a !== '--help' && a !== '-h');
  if (unknown === undefined) return { kind: 'help' };
  return {
    kind: 'usage-error',
    message:
      `unknown argument "${unknown}": settings are environment variables ` + `(${program} --help lists them)`,
  };
}

export interface Setting {
  name: string;
  /** As the process would read it with the variable unset; `(unset)` when it stays unset. */
  defaultValue: string;
}

/**
 * Every variable of `schemas` (once each, by name: the first schema's default wins), with the default
 * the schema gives an unset one; `except` are set by the program itself.
 */
export function settingsOf(
  schemas: readonly z.ZodObject<z.ZodRawShape>[],
  except: ReadonlySet<string> = new Set(),
): Setting[] {
  const byName = new Map<string, Setting>();
  for (const schema of schemas) {
    for (const [name, field] of Object.entries(schema.shape)) {
      if (byName.has(name) || except.has(name)) continue;
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

/** `usage` and `about` (lines), then the variables. */
export function helpText(usage: string, about: readonly string[], settings: readonly Setting[]): string {
  const width = Math.max(...settings.map((s) => s.name.length));
  return [
    `Usage: ${usage}`,
    '',
    ...about,
    '',
    'Variables read, with the value used when unset:',
    ...settings.map((s) => `  ${s.name.padEnd(width)}  ${s.defaultValue}`),
    '',
  ].join('\n');
}

/** Before anything starts: prints help and exits 0, or refuses an argument with exit 2 (a usage error). */
export function handleCommandLine(opts: {
  program: string;
  about: readonly string[];
  schemas: readonly z.ZodObject<z.ZodRawShape>[];
  except?: ReadonlySet<string>;
  argv?: readonly string[];
}): void {
  const args = parseProcessArgs(opts.argv ?? process.argv.slice(2), opts.program);
  if (args.kind === 'run') return;
  if (args.kind === 'help') {
    process.stdout.write(
      helpText(`${opts.program} [--help]`, opts.about, settingsOf(opts.schemas, opts.except)),
    );
    process.exit(0);
  }
  process.stderr.write(`${opts.program}: ${args.message}\n`);
  process.exit(2);
}
