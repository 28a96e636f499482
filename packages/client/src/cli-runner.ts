// Runs a parsed `sip-pubsub` command. The process (stdio, signals, env) comes in as CliIo, so the
// runner holds no global state and returns the exit status instead of exiting.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import * as os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ConferenceInfo, DirectoryInfo } from '@sip-pubsub/events';
import { parseSenmlJson, SenmlError, type SenmlPack, validatePack } from '@sip-pubsub/senml';
import { BrokerNotInstalledError, findBrokerBinary } from './broker-binary.js';
import {
  type CliCommand,
  CliUsageError,
  type CommandName,
  type ConnectionArgs,
  parseCliArgs,
  USAGE,
} from './cli-args.js';
import { type ClientOptions, ClientOptionsError } from './client-options.js';
import { directoryChanges, formatDirectoryChange } from './directory-changes.js';
import { SipPubSubError } from './errors.js';
import type { EventPublisher } from './event-publisher.js';
import { formatPackHuman, formatPackJson, formatPublished } from './pack-printer.js';
import { formatRosterChange, rosterChanges } from './roster-changes.js';
import { SipPubSubClient } from './sip-pubsub-client.js';
import type { Watcher } from './watcher.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface CliIo {
  stdout(line: string): void;
  stderr(line: string): void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  stdin: NodeJS.ReadableStream;
  /** Calls `fn` on Ctrl-C or SIGTERM; returns a function that stops listening. */
  onInterrupt(fn: (signal: NodeJS.Signals) => void): () => void;
  now(): number;
}

export function processIo(): CliIo {
  return {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    cwd: process.cwd(),
    stdin: process.stdin,
    onInterrupt(fn) {
      const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
      let count = 0;
      const handler = (signal: NodeJS.Signals) => {
        // A second Ctrl-C means "now": do not wait for the broker's answers.
        if (++count > 1) process.exit(130);
        fn(signal);
      };
      for (const s of signals) process.on(s, handler);
      return () => {
        for (const s of signals) process.off(s, handler);
      };
    },
    now: () => Date.now(),
  };
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let command: CliCommand;
  try {
    command = parseCliArgs(argv, io.env);
  } catch (err) {
    if (err instanceof CliUsageError) return usageError(io, err.message, err.command);
    throw err;
  }
  const name = command.command;
  try {
    switch (command.command) {
      case 'help':
        io.stdout(USAGE[command.about ?? 'main']);
        return EXIT_OK;
      case 'serve':
        return await serve(command.args, io);
      case 'topics':
        return await topics(command, io);
      case 'publish':
        return await publish(command, io);
      case 'subscribe':
        return await subscribe(command, io);
      case 'watch':
        return await watch(command, io);
      case 'get':
        return await get(command, io);
    }
  } catch (err) {
    if (err instanceof CliUsageError || err instanceof ClientOptionsError)
      return usageError(io, err.message, name === 'help' ? undefined : name);
    io.stderr(`sip-pubsub ${name}: ${describeError(err)}`);
    return EXIT_FAILURE;
  }
}

function usageError(io: CliIo, message: string, command?: CommandName): number {
  io.stderr(`sip-pubsub: ${message}`);
  io.stderr(command ? `Run "sip-pubsub ${command} --help" for usage.` : 'Run "sip-pubsub --help" for usage.');
  return EXIT_USAGE;
}

export function describeError(err: unknown): string {
  if (err instanceof SenmlError) return `invalid SenML: ${err.message}`;
  if (err instanceof SipPubSubError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

export function clientOptionsFrom(connection: ConnectionArgs): ClientOptions {
  const opts: ClientOptions = { server: connection.server, transport: connection.transport };
  if (connection.domain !== undefined) opts.domain = connection.domain;
  if (connection.localHost !== undefined) opts.localHost = connection.localHost;
  // Each command line is its own participant: the roster groups legs by AOR, so a shared default user
  // would make separate CLI processes look like one user.
  opts.user = connection.user ?? defaultCliUser();
  return opts;
}

function defaultCliUser(): string {
  let name = 'cli';
  try {
    name = os.userInfo().username.replace(/[^A-Za-z0-9._-]/g, '') || 'cli';
  } catch {
    // no passwd entry (some containers)
  }
  return `${name}-${process.pid}`;
}

async function serve(args: string[], io: CliIo): Promise<number> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const starts = [io.cwd, here];
  const binary = findBrokerBinary(starts);
  if (!binary) throw new BrokerNotInstalledError(starts);
  const child = spawn(binary, args, { stdio: 'inherit', env: { ...io.env } as NodeJS.ProcessEnv });
  // Ctrl-C reaches the whole foreground process group; SIGTERM only us, so pass it on. The broker drains.
  const off = io.onInterrupt((signal) => {
    if (signal !== 'SIGINT') child.kill(signal);
  });
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start ${binary}: ${err.message}`)));
      child.once('exit', (code, signal) =>
        resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? EXIT_OK : EXIT_FAILURE)),
      );
    });
  } finally {
    off();
  }
}

/** Resolves after `ms`, or at once when `stop` fires first. */
function pause(ms: number, stop: { stopped: boolean; wake?: () => void }): Promise<void> {
  if (stop.stopped || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      stop.wake = undefined;
      resolve();
    }
    stop.wake = done;
  });
}

async function publish(command: Extract<CliCommand, { command: 'publish' }>, io: CliIo): Promise<number> {
  let fixed: SenmlPack | undefined;
  if (command.source.kind === 'record') fixed = command.source.pack;
  if (command.source.kind === 'file') {
    let text: string;
    try {
      text = await readFile(path.resolve(io.cwd, command.source.path), 'utf8');
    } catch (err) {
      throw new Error(
        `cannot read ${command.source.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    try {
      fixed = parseSenmlJson(text.trim());
    } catch (err) {
      if (err instanceof SenmlError) throw new SenmlError(`${command.source.path}: ${err.message}`);
      throw err;
    }
  }

  // Refuse bad data before any signalling, naming the record and rule (RFC 8428).
  if (fixed !== undefined) validatePack(fixed);
  if (command.method === 'publish') return publishEventState(command, fixed, io);

  const client = await SipPubSubClient.connect(clientOptionsFrom(command.connection));
  const stop: { stopped: boolean; wake?: () => void; onStop?: () => void } = { stopped: false };
  const off = io.onInterrupt(() => {
    stop.stopped = true;
    stop.wake?.();
    stop.onStop?.();
  });
  let failures = 0;
  try {
    const publisher = await client.publisher(command.topic);
    publisher.once('close', (by) => {
      if (by === 'remote') io.stderr(`sip-pubsub publish: the broker ended the session for ${command.topic}`);
      stop.stopped = true;
      stop.wake?.();
      stop.onStop?.();
    });
    const send = async (pack: SenmlPack) => {
      await publisher.publish(pack);
      io.stdout(formatPublished(command.topic, pack, io.now() / 1000));
    };

    if (fixed !== undefined) {
      const limit = command.count ?? (command.intervalMs === undefined ? 1 : Number.POSITIVE_INFINITY);
      for (let sent = 0; sent < limit && !stop.stopped; sent++) {
        if (sent > 0) await pause(command.intervalMs ?? 0, stop);
        if (stop.stopped) break;
        await send(fixed);
      }
    } else {
      const lines = createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY });
      stop.onStop = () => lines.close();
      let sent = 0;
      let lineNumber = 0;
      let last = Number.NEGATIVE_INFINITY;
      for await (const raw of lines) {
        lineNumber++;
        const line = raw.trim();
        if (line === '') continue;
        let pack: SenmlPack;
        try {
          pack = parseSenmlJson(line);
        } catch (err) {
          if (!(err instanceof SenmlError)) throw err;
          failures++;
          io.stderr(`sip-pubsub publish: stdin line ${lineNumber} skipped: invalid SenML: ${err.message}`);
          continue;
        }
        if (command.intervalMs !== undefined) await pause(last + command.intervalMs - io.now(), stop);
        if (stop.stopped) break;
        last = io.now();
        await send(pack);
        if (command.count !== undefined && ++sent >= command.count) break;
      }
      lines.close();
    }
  } finally {
    off();
    await client.close();
  }
  return failures > 0 ? EXIT_FAILURE : EXIT_OK;
}

/**
 * `publish --method publish`: the packs go as PUBLISH event state (RFC 3903). The first creates it, later
 * ones modify it; it is refreshed until Ctrl-C and then removed — or, with --retain-only, left in place
 * after one PUBLISH, so its values stay retained until it expires.
 */
async function publishEventState(
  command: Extract<CliCommand, { command: 'publish' }>,
  fixed: SenmlPack | undefined,
  io: CliIo,
): Promise<number> {
  const options = command.expires !== undefined ? { expires: command.expires } : {};
  let failures = 0;
  return untilSettled(command.connection, io, async (client, session) => {
    let publication: EventPublisher | undefined;
    const send = async (pack: SenmlPack) => {
      if (publication) await publication.publish(pack);
      else {
        publication = await client.publishEvent(command.topic, pack, options);
        publication.on('error', (err) => {
          io.stderr(`sip-pubsub publish: the publication was lost: ${describeError(err)}`);
          session.settle(EXIT_FAILURE);
        });
      }
      io.stdout(formatPublished(command.topic, pack, io.now() / 1000));
    };
    const stop = { stopped: false, wake: undefined as (() => void) | undefined };
    const finished = () => session.done || stop.stopped;
    if (fixed !== undefined) {
      const limit = command.count ?? (command.intervalMs === undefined ? 1 : Number.POSITIVE_INFINITY);
      void (async () => {
        for (let sent = 0; sent < limit && !finished(); sent++) {
          if (sent > 0) await pause(command.intervalMs ?? 0, stop);
          if (finished()) break;
          await send(fixed);
        }
        if (command.retainOnly) {
          publication?.detach();
          io.stderr(
            `published to ${command.topic}; the state stays until it expires (${publication?.expires} s)`,
          );
          session.settle(EXIT_OK);
        } else if (!session.done)
          io.stderr(`publishing to ${command.topic} with PUBLISH; Ctrl-C to remove and stop`);
      })().catch((err: Error) => {
        io.stderr(`sip-pubsub publish: ${describeError(err)}`);
        session.settle(EXIT_FAILURE);
      });
      return;
    }
    const lines = createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY });
    void (async () => {
      let lineNumber = 0;
      for await (const raw of lines) {
        lineNumber++;
        if (session.done) break;
        const line = raw.trim();
        if (line === '') continue;
        try {
          await send(parseSenmlJson(line));
        } catch (err) {
          if (!(err instanceof SenmlError)) throw err;
          failures++;
          io.stderr(`sip-pubsub publish: stdin line ${lineNumber} skipped: invalid SenML: ${err.message}`);
        }
      }
      // Input ended: the state stays, refreshed, until Ctrl-C.
    })().catch((err: Error) => {
      io.stderr(`sip-pubsub publish: ${describeError(err)}`);
      session.settle(EXIT_FAILURE);
    });
  }).then((code) => (code === EXIT_OK && failures > 0 ? EXIT_FAILURE : code));
}

/** Prints the topic's retained values (an RFC 6665 fetch) and exits. */
async function get(command: Extract<CliCommand, { command: 'get' }>, io: CliIo): Promise<number> {
  const client = await SipPubSubClient.connect(clientOptionsFrom(command.connection));
  try {
    const records = await client.retained(command.topic);
    if (command.json) io.stdout(JSON.stringify(records));
    else for (const line of formatPackHuman(records as SenmlPack, io.now() / 1000)) io.stdout(line);
    return EXIT_OK;
  } finally {
    await client.close();
  }
}

/** `subscribe --events` or a wildcard filter: the pubsub-data package instead of RTP. */
async function subscribeEvents(
  command: Extract<CliCommand, { command: 'subscribe' }>,
  io: CliIo,
): Promise<number> {
  return untilSettled(command.connection, io, async (client, session) => {
    const watcher = await client.dataWatch(command.topic);
    let received = 0;
    const show = (records: SenmlPack) => {
      if (session.done || records.length === 0) return;
      if (command.json) io.stdout(formatPackJson(records));
      else for (const line of formatPackHuman(records, io.now() / 1000)) io.stdout(line);
      received++;
      if (command.count !== undefined && received >= command.count) session.settle(EXIT_OK);
    };
    watcher.on('notify', (doc) => show(doc as SenmlPack));
    watcher.on('invalid', (err) =>
      io.stderr(`sip-pubsub subscribe: unreadable notification: ${err.message}`),
    );
    watcher.once('terminated', (reason) => {
      if (!session.done) io.stderr(`sip-pubsub subscribe: the subscription ended (${reason})`);
      session.settle(EXIT_FAILURE);
    });
    // The first NOTIFY (the retained values) may have arrived before the watcher was handed over.
    if (watcher.state !== undefined) show(watcher.state as SenmlPack);
    if (!session.done) io.stderr(`subscribed to ${command.topic} with SIP events; Ctrl-C to stop`);
  });
}

/**
 * Runs a long-lived command: connects, lets `body` set up its session, and resolves with the exit code
 * given to `settle` (Ctrl-C settles with 0). Ctrl-C is listened for from the start, so one pressed while
 * joining still leaves cleanly (BYE, unsubscribe) when the client closes.
 */
async function untilSettled(
  connection: ConnectionArgs,
  io: CliIo,
  body: (client: SipPubSubClient, session: Session) => Promise<void>,
): Promise<number> {
  const client = await SipPubSubClient.connect(clientOptionsFrom(connection));
  let resolveEnded: (code: number) => void = () => {};
  const ended = new Promise<number>((resolve) => {
    resolveEnded = resolve;
  });
  const session: Session = {
    done: false,
    settle(code) {
      if (session.done) return;
      session.done = true;
      resolveEnded(code);
    },
  };
  const off = io.onInterrupt(() => session.settle(EXIT_OK));
  try {
    await body(client, session);
    return await ended;
  } finally {
    off();
    await client.close();
  }
}

interface Session {
  done: boolean;
  settle(code: number): void;
}

async function subscribe(command: Extract<CliCommand, { command: 'subscribe' }>, io: CliIo): Promise<number> {
  if (command.events) return subscribeEvents(command, io);
  return untilSettled(command.connection, io, async (client, session) => {
    const subscriber = await client.subscriber(command.topic);
    let received = 0;
    subscriber.on('pack', (pack) => {
      if (session.done) return;
      if (command.json) io.stdout(formatPackJson(pack));
      else for (const line of formatPackHuman(pack, io.now() / 1000)) io.stdout(line);
      received++;
      if (command.count !== undefined && received >= command.count) session.settle(EXIT_OK);
    });
    subscriber.on('invalid', (_line, err) =>
      io.stderr(`sip-pubsub subscribe: skipped a publication that is not valid SenML: ${err.message}`),
    );
    subscriber.on('loss', (info) =>
      io.stderr(
        `sip-pubsub subscribe: ${info.lost} packet(s) lost from SSRC ${info.ssrc}, ${info.damagedLines} damaged publication(s) dropped`,
      ),
    );
    subscriber.once('close', (by) => {
      if (by === 'remote' && !session.done)
        io.stderr(`sip-pubsub subscribe: the broker ended the subscription to ${command.topic}`);
      session.settle(EXIT_FAILURE);
    });
    if (!session.done)
      io.stderr(`subscribed to ${command.topic} (${subscriber.conferenceUri}); Ctrl-C to stop`);
  });
}

/** Prints what a watcher's views change, from the view it may already hold, until it ends. */
function followWatcher<Doc>(
  name: string,
  watcher: Watcher<Doc>,
  session: Session,
  io: CliIo,
  show: (view: Doc) => void,
): void {
  watcher.on('notify', (_doc, view) => show(view));
  watcher.on('invalid', (err) => io.stderr(`sip-pubsub ${name}: unreadable notification: ${err.message}`));
  watcher.once('terminated', (reason) => {
    if (!session.done) io.stderr(`sip-pubsub ${name}: the subscription ended (${reason})`);
    session.settle(EXIT_FAILURE);
  });
  // The first NOTIFY may have arrived before the watcher was handed over.
  if (watcher.state !== undefined) show(watcher.state);
}

async function watch(command: Extract<CliCommand, { command: 'watch' }>, io: CliIo): Promise<number> {
  return untilSettled(command.connection, io, async (client, session) => {
    const watcher = await client.watch(command.topic);
    let previous: ConferenceInfo | undefined;
    followWatcher('watch', watcher, session, io, (view) => {
      if (view === previous) return;
      for (const change of rosterChanges(previous, view))
        io.stdout(command.json ? JSON.stringify(change) : formatRosterChange(change));
      previous = view;
    });
    if (!session.done) io.stderr(`watching ${command.topic} (${watcher.conferenceUri}); Ctrl-C to stop`);
  });
}

/** How long `topics` (without --watch) waits after a directory NOTIFY for another part before it exits. */
const LISTING_QUIET_MS = 1_000;

async function topics(command: Extract<CliCommand, { command: 'topics' }>, io: CliIo): Promise<number> {
  return untilSettled(command.connection, io, async (client, session) => {
    const watcher = await client.directory();
    let previous: DirectoryInfo | undefined;
    let quiet: NodeJS.Timeout | undefined;
    followWatcher('topics', watcher, session, io, (view) => {
      if (view === previous) return;
      for (const change of directoryChanges(previous, view))
        io.stdout(command.json ? JSON.stringify(change) : formatDirectoryChange(change, !command.watch));
      previous = view;
      if (command.watch) return;
      // A directory too large for one NOTIFY comes in parts, one per NOTIFY_MIN_INTERVAL_MS (200 ms by
      // default): the listing ends once no part has come for LISTING_QUIET_MS.
      clearTimeout(quiet);
      quiet = setTimeout(() => session.settle(EXIT_OK), LISTING_QUIET_MS);
    });
    if (!session.done && command.watch) io.stderr('watching the topic directory; Ctrl-C to stop');
  });
}
