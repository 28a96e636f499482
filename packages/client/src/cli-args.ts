// Command line of `sip-pubsub`: argv → a command description. Pure (no I/O), so it is tested directly.
import { parseArgs } from 'node:util';
import type { SenmlPack, SenmlRecord } from '@sip-pubsub/senml';
import { isTopicFilter } from './data-package.js';

export const DEFAULT_SERVER = '127.0.0.1:5060';

/** Bad command line: the message says what is wrong; the process exits with status 2. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
  constructor(
    message: string,
    /** The command whose usage to show, if known. */
    readonly command?: CommandName,
  ) {
    super(message);
  }
}

export type CommandName = 'serve' | 'topics' | 'publish' | 'subscribe' | 'watch' | 'get';
export const COMMANDS: readonly CommandName[] = ['serve', 'topics', 'publish', 'subscribe', 'watch', 'get'];

export interface ConnectionArgs {
  server: string;
  transport: 'udp' | 'tcp';
  domain?: string;
  localHost?: string;
  user?: string;
}

export type PublishSource =
  | { kind: 'record'; pack: SenmlPack }
  | { kind: 'file'; path: string }
  | { kind: 'stdin' };

export type CliCommand =
  | { command: 'help'; about?: CommandName }
  | { command: 'serve'; args: string[] }
  | { command: 'topics'; connection: ConnectionArgs; json: boolean; watch: boolean }
  | {
      command: 'publish';
      topic: string;
      connection: ConnectionArgs;
      source: PublishSource;
      intervalMs?: number;
      count?: number;
      /** `invite` joins the topic and sends RTP (default); `publish` sends PUBLISH (RFC 3903). */
      method: 'invite' | 'publish';
      /** PUBLISH only: requested lifetime of the event state, seconds. */
      expires?: number;
      /** PUBLISH only: send once and exit, leaving the state (and its retained values) until it expires. */
      retainOnly: boolean;
    }
  | {
      command: 'subscribe';
      topic: string;
      connection: ConnectionArgs;
      json: boolean;
      count?: number;
      /** Read through the pubsub-data event package instead of RTP (always so for a wildcard filter). */
      events: boolean;
    }
  | { command: 'watch'; topic: string; connection: ConnectionArgs; json: boolean }
  | { command: 'get'; topic: string; connection: ConnectionArgs; json: boolean };

const CONNECTION_OPTIONS = {
  server: { type: 'string' },
  transport: { type: 'string' },
  domain: { type: 'string' },
  'local-host': { type: 'string' },
  user: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const PUBLISH_OPTIONS = {
  ...CONNECTION_OPTIONS,
  name: { type: 'string', short: 'n' },
  value: { type: 'string', short: 'v' },
  unit: { type: 'string', short: 'u' },
  time: { type: 'string', short: 't' },
  file: { type: 'string', short: 'f' },
  stdin: { type: 'boolean' },
  interval: { type: 'string' },
  count: { type: 'string' },
  method: { type: 'string' },
  expires: { type: 'string' },
  'retain-only': { type: 'boolean' },
} as const;

const SUBSCRIBE_OPTIONS = {
  ...CONNECTION_OPTIONS,
  json: { type: 'boolean' },
  count: { type: 'string' },
  events: { type: 'boolean' },
} as const;
const WATCH_OPTIONS = { ...CONNECTION_OPTIONS, json: { type: 'boolean' } } as const;

export const USAGE: Record<'main' | CommandName, string> = {
  main: `Usage: sip-pubsub <command> [options]

Commands:
  serve                      run the embedded broker (sip-pubsub-broker)
  publish <topic>            publish SenML readings to a topic
  subscribe <topic>          print the readings published to a topic
  watch <topic>              print who joins and leaves a topic
  topics                     list the topics and their publisher/subscriber counts
  get <topic>                print a topic's retained values and exit

Global options:
  --server host:port         broker SIP address (default $SIP_PUBSUB_SERVER or ${DEFAULT_SERVER})
  --transport udp|tcp        SIP transport (default udp)
  --domain d                 SIP domain of the broker (default localhost)
  --local-host addr          local address to bind and advertise (default 127.0.0.1)
  --user u                   user part of our SIP address
  -h, --help                 help for a command: sip-pubsub <command> --help`,
  serve: `Usage: sip-pubsub serve [broker options]

Runs the embedded one-process broker (the sip-pubsub-broker program of @sip-pubsub/embedded)
with this terminal's input, output and environment. Its settings are environment variables
(sip-pubsub-broker --help lists them with their defaults); it refuses any other argument.`,
  topics: `Usage: sip-pubsub topics [--json] [--watch]

Lists every topic with its conference URI and publisher/subscriber counts, read from the topic
directory (the pubsub-conferences event package at the factory URI). A directory too large for one
NOTIFY arrives in parts; the listing ends once no part has come for a second.
  --json                     one JSON object per topic
  --watch                    keep running and print each change (+ new, - removed, ~ counts)`,
  publish: `Usage: sip-pubsub publish <topic> [options]

One record from flags:
  -n, --name n               record name, e.g. temp
  -v, --value v              number, true/false, or text (quote JSON strings: '"21"')
  -u, --unit u               unit, e.g. Cel
  -t, --time t               time in seconds (absolute, or relative if below 2^28)
A pack from a file, or one pack per line of standard input:
  -f, --file f.json          a SenML JSON pack
      --stdin                read packs, one JSON array per line
Repetition:
      --interval ms          publish again every ms milliseconds (with --stdin: at most one line per ms)
      --count N              stop after N publications
Without joining:
      --method publish       send PUBLISH (RFC 3903 event state) instead of joining with RTP;
                             refreshed before it expires, removed on exit
      --expires s            lifetime of the published state in seconds (default 600, minimum 30)
      --retain-only          with --method publish: publish once and exit, leaving the state retained
                             until it expires
Plus the global options (sip-pubsub --help).`,
  subscribe: `Usage: sip-pubsub subscribe <topic|filter> [--json] [--count N] [--events]

Prints each received pack: one line per record (name = value unit  (t=time)),
or with --json one JSON array per pack. --count N exits after N packs.
  --events                   read through SIP events (SUBSCRIBE pubsub-data) instead of RTP: the
                             retained values first, then what arrives
A filter with + (one segment) or # (the rest), e.g. 'plant-7/#', watches every matching topic
through SIP events; each record's name is prefixed with its topic.
Plus the global options (sip-pubsub --help).`,
  get: `Usage: sip-pubsub get <topic> [--json]

Prints the topic's retained values (the latest record per name) and exits: an RFC 6665 fetch
(SUBSCRIBE pubsub-data with Expires: 0). With --json one JSON array.
Plus the global options (sip-pubsub --help).`,
  watch: `Usage: sip-pubsub watch <topic> [--json]

Prints roster changes of the topic: "+ <participant> <role>" when one joins,
"- <participant>" when one leaves, "~ <participant> <role>" when a role changes.
With --json one JSON object per change. Plus the global options (sip-pubsub --help).`,
};

export function parseCliArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): CliCommand {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const about = first === 'help' ? rest[0] : undefined;
    if (about !== undefined && !isCommand(about)) throw new CliUsageError(`unknown command "${about}"`);
    return about !== undefined ? { command: 'help', about } : { command: 'help' };
  }
  if (!isCommand(first))
    throw new CliUsageError(`unknown command "${first}" (expected one of ${COMMANDS.join(', ')})`);
  switch (first) {
    case 'serve':
      if (rest.includes('--help') || rest.includes('-h')) return { command: 'help', about: 'serve' };
      return { command: 'serve', args: [...rest] };
    case 'topics': {
      const { values, positionals } = parse('topics', rest, {
        ...CONNECTION_OPTIONS,
        json: { type: 'boolean' },
        watch: { type: 'boolean' },
      });
      if (values.help) return { command: 'help', about: 'topics' };
      if (positionals.length > 0)
        throw new CliUsageError(`topics takes no arguments, got "${positionals[0]}"`, 'topics');
      return {
        command: 'topics',
        connection: connection('topics', values, env),
        json: values.json === true,
        watch: values.watch === true,
      };
    }
    case 'publish': {
      const { values, positionals } = parse('publish', rest, PUBLISH_OPTIONS);
      if (values.help) return { command: 'help', about: 'publish' };
      const topic = onlyTopic('publish', positionals);
      const result: CliCommand = {
        command: 'publish',
        topic,
        connection: connection('publish', values, env),
        source: publishSource(values),
        method: 'invite',
        retainOnly: false,
      };
      if (values.interval !== undefined)
        result.intervalMs = positiveInteger('publish', '--interval', values.interval);
      if (values.count !== undefined) result.count = positiveInteger('publish', '--count', values.count);
      const method = (values.method ?? 'invite').toLowerCase();
      if (method !== 'invite' && method !== 'publish')
        throw new CliUsageError(`--method "${values.method}": expected invite or publish`, 'publish');
      result.method = method;
      result.retainOnly = values['retain-only'] === true;
      if (values.expires !== undefined)
        result.expires = positiveInteger('publish', '--expires', values.expires);
      if (method === 'invite' && (result.retainOnly || result.expires !== undefined))
        throw new CliUsageError(
          `${result.retainOnly ? '--retain-only' : '--expires'} needs --method publish`,
          'publish',
        );
      if (
        result.retainOnly &&
        (result.intervalMs !== undefined || result.count !== undefined || result.source.kind === 'stdin')
      )
        throw new CliUsageError(
          '--retain-only publishes once: it takes no --interval, --count or --stdin',
          'publish',
        );
      return result;
    }
    case 'subscribe': {
      const { values, positionals } = parse('subscribe', rest, SUBSCRIBE_OPTIONS);
      if (values.help) return { command: 'help', about: 'subscribe' };
      const topic = onlyTopic('subscribe', positionals);
      const result: CliCommand = {
        command: 'subscribe',
        topic,
        connection: connection('subscribe', values, env),
        json: values.json ?? false,
        // Wildcard filters exist only in the pubsub-data package (PROFILE "Wildcard watching").
        events: values.events === true || isTopicFilter(topic),
      };
      if (values.count !== undefined) result.count = positiveInteger('subscribe', '--count', values.count);
      return result;
    }
    case 'get': {
      const { values, positionals } = parse('get', rest, WATCH_OPTIONS);
      if (values.help) return { command: 'help', about: 'get' };
      return {
        command: 'get',
        topic: onlyTopic('get', positionals),
        connection: connection('get', values, env),
        json: values.json ?? false,
      };
    }
    case 'watch': {
      const { values, positionals } = parse('watch', rest, WATCH_OPTIONS);
      if (values.help) return { command: 'help', about: 'watch' };
      return {
        command: 'watch',
        topic: onlyTopic('watch', positionals),
        connection: connection('watch', values, env),
        json: values.json ?? false,
      };
    }
  }
}

/** The one record of `publish --name --value [--unit] [--time]` as a SenML pack (RFC 8428 §4.3 value fields). */
export function packFromFlags(flags: {
  name?: string;
  value?: string;
  unit?: string;
  time?: string;
}): SenmlPack {
  if (flags.name === undefined) throw new CliUsageError('--value needs --name (the record name)', 'publish');
  if (flags.value === undefined) throw new CliUsageError(`--name ${flags.name} needs --value`, 'publish');
  if (flags.name.trim() === '') throw new CliUsageError('--name must not be empty', 'publish');
  const record: SenmlRecord = { n: flags.name };
  if (flags.unit !== undefined) record.u = flags.unit;
  Object.assign(record, valueField(flags.value));
  if (flags.time !== undefined) {
    const t = Number(flags.time);
    if (flags.time.trim() === '' || !Number.isFinite(t))
      throw new CliUsageError(`--time "${flags.time}" is not a number of seconds`, 'publish');
    record.t = t;
  }
  return [record];
}

/** Numbers become v, true/false vb, a JSON string literal or any other text vs. */
export function valueField(text: string): Pick<SenmlRecord, 'v' | 'vb' | 'vs'> {
  const trimmed = text.trim();
  if (trimmed === 'true' || trimmed === 'false') return { vb: trimmed === 'true' };
  if (trimmed !== '' && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(trimmed)) {
    const v = Number(trimmed);
    if (Number.isFinite(v)) return { v };
  }
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) {
    try {
      const s: unknown = JSON.parse(trimmed);
      if (typeof s === 'string') return { vs: s };
    } catch {
      // not a JSON string literal: take the text as it is
    }
  }
  return { vs: text };
}

function isCommand(text: string): text is CommandName {
  return (COMMANDS as readonly string[]).includes(text);
}

type OptionsConfig = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

function parse<T extends OptionsConfig>(command: CommandName, args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    // node:util reports unknown options and missing values as TypeError with an ERR_PARSE_ARGS_* code.
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new CliUsageError(message, command);
  }
}

function onlyTopic(command: CommandName, positionals: string[]): string {
  if (positionals.length === 0)
    throw new CliUsageError(
      `${command} needs a topic, e.g. sip-pubsub ${command} plant-7/boiler/temp`,
      command,
    );
  if (positionals.length > 1)
    throw new CliUsageError(
      `${command} takes one topic, got ${positionals.length}: ${positionals.join(' ')}`,
      command,
    );
  return positionals[0];
}

function connection(
  command: CommandName,
  values: { server?: string; transport?: string; domain?: string; 'local-host'?: string; user?: string },
  env: Readonly<Record<string, string | undefined>>,
): ConnectionArgs {
  const server = values.server ?? nonEmpty(env.SIP_PUBSUB_SERVER) ?? DEFAULT_SERVER;
  if (!/^(\[[0-9A-Fa-f:.]+\]|[^\s:/@[\]]+)(:\d{1,5})?$/.test(server)) {
    throw new CliUsageError(`--server "${server}" is not host:port`, command);
  }
  const transport = (values.transport ?? nonEmpty(env.SIP_PUBSUB_TRANSPORT) ?? 'udp').toLowerCase();
  if (transport !== 'udp' && transport !== 'tcp')
    throw new CliUsageError(`--transport "${transport}": expected udp or tcp`, command);
  const result: ConnectionArgs = { server, transport };
  const domain = values.domain ?? nonEmpty(env.SIP_PUBSUB_DOMAIN);
  if (domain !== undefined) result.domain = domain;
  if (values['local-host'] !== undefined) result.localHost = values['local-host'];
  if (values.user !== undefined) result.user = values.user;
  return result;
}

function publishSource(values: {
  name?: string;
  value?: string;
  unit?: string;
  time?: string;
  file?: string;
  stdin?: boolean;
}): PublishSource {
  const fromFlags =
    values.name !== undefined ||
    values.value !== undefined ||
    values.unit !== undefined ||
    values.time !== undefined;
  const chosen = [
    fromFlags && '--name/--value',
    values.file !== undefined && '--file',
    values.stdin === true && '--stdin',
  ].filter((x): x is string => typeof x === 'string');
  if (chosen.length === 0)
    throw new CliUsageError('publish needs data: --name and --value, --file f.json, or --stdin', 'publish');
  if (chosen.length > 1)
    throw new CliUsageError(`publish takes one data source, got ${chosen.join(' and ')}`, 'publish');
  if (fromFlags) return { kind: 'record', pack: packFromFlags(values) };
  if (values.file !== undefined) return { kind: 'file', path: values.file };
  return { kind: 'stdin' };
}

function positiveInteger(command: CommandName, flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new CliUsageError(`${flag} "${text}" is not a positive integer`, command);
  }
  return Number(text);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
