// Runs SIPp (Debian's sip-tester) with one of the scenarios beside this file and reads back what it
// measured: its exit code, the final line of its statistics file, its error log and, when asked, every
// response time it traced. Shared by test/interop/sipp.test.ts and the ramp benchmark in test/bench.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@sip-pubsub/platform';

export const SCENARIOS = path.dirname(fileURLToPath(import.meta.url));

export interface SippOptions {
  /** File name of a scenario beside this module, e.g. `options.xml`. */
  scenario: string;
  sipPort: number;
  calls: number;
  /** Calls started per second (-r). */
  rate?: number;
  /** Most calls at once (-l). */
  limit?: number;
  /** Length of a scenario's bare `<pause/>` (-d). */
  pauseMs?: number;
  /** Injection file lines (-inf), without the SEQUENTIAL header. */
  injection?: string[];
  /** Generic keywords (-key name value). */
  keys?: Record<string, string>;
  /** Global deadline: SIPp stops by itself and fails (-timeout with -timeout_error). */
  timeoutS: number;
  /** Per-message receive deadline (-recv_timeout), so a lost answer fails the call instead of hanging. */
  recvTimeoutMs?: number;
  /** Trace every response time (-trace_rtt) and return them. */
  traceRtt?: boolean;
  /** Keep the working directory (logs, statistics) instead of removing it. */
  keep?: boolean;
  /** SIPp's own UDP port (-p); default a free one. A UAS scenario's address is known to the test this way. */
  localPort?: number;
}

export interface ResponseTime {
  ms: number;
  /** The scenario's response-time counter (rtd="N"). */
  counter: number;
}

export interface SippResult {
  exitCode: number | null;
  /** The last statistics line, column name → value (SIPp's own names, e.g. `SuccessfulCall(C)`). */
  stats: Record<string, string>;
  /** The most calls in progress at once over the run's statistics periods. */
  peakConcurrent: number;
  /** Unexpected messages and failed checks SIPp logged (-trace_err). */
  errors: string;
  /** SIPp's final screen (-trace_screen). */
  screen: string;
  /** Every response time SIPp traced (`rtd` counters in the scenario), when traceRtt. */
  rtt: ResponseTime[];
  /** The command line, for reports. */
  command: string;
  dir: string;
}

function num(stats: Record<string, string>, column: string): number {
  const value = stats[column];
  if (value === undefined) throw new Error(`SIPp statistics have no column ${column}`);
  return Number(value);
}

/** The totals a test asserts on: calls created, succeeded, failed, retransmissions. */
export function callCounts(result: SippResult): {
  created: number;
  successful: number;
  failed: number;
  retransmissions: number;
} {
  return {
    created: num(result.stats, 'TotalCallCreated'),
    successful: num(result.stats, 'SuccessfulCall(C)'),
    failed: num(result.stats, 'FailedCall(C)'),
    retransmissions: num(result.stats, 'Retransmissions(C)'),
  };
}

/** Every line of the statistics file (one per -fd period, the last at exit), column name → value. */
function parseStats(csv: string): Record<string, string>[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const names = (lines[0] ?? '').split(';').map((n) => n.trim());
  return lines.slice(1).map((line) => {
    const values = line.split(';');
    return Object.fromEntries(names.map((n, i) => [n, (values[i] ?? '').trim()]));
  });
}

/** SIPp's -trace_rtt file: `date_ms;response_time_ms;rtd_no` per line after a header. */
function parseRtt(csv: string): ResponseTime[] {
  const out: ResponseTime[] = [];
  for (const line of csv.split('\n').slice(1)) {
    const fields = line.split(';');
    if (fields.length < 3) continue;
    const ms = Number(fields[1]);
    if (Number.isFinite(ms)) out.push({ ms, counter: Number(fields[2]) });
  }
  return out;
}

export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sipp-'));
  const localPort = opts.localPort ?? (await freePort('udp'));
  const args = [
    '-sf',
    path.join(SCENARIOS, opts.scenario),
    '-i',
    '127.0.0.1',
    '-p',
    String(localPort),
    '-m',
    String(opts.calls),
  ];
  if (opts.rate !== undefined) args.push('-r', String(opts.rate));
  if (opts.limit !== undefined) args.push('-l', String(opts.limit));
  if (opts.pauseMs !== undefined) args.push('-d', String(opts.pauseMs));
  if (opts.injection) {
    await writeFile(path.join(dir, 'calls.csv'), `SEQUENTIAL\n${opts.injection.join('\n')}\n`);
    args.push('-inf', path.join(dir, 'calls.csv'));
  }
  for (const [key, value] of Object.entries(opts.keys ?? {})) args.push('-key', key, value);
  args.push(
    '-timeout',
    `${opts.timeoutS}s`,
    '-timeout_error',
    '-recv_timeout',
    String(opts.recvTimeoutMs ?? 10_000),
  );
  args.push('-trace_stat', '-stf', path.join(dir, 'stats.csv'), '-fd', '1');
  args.push('-trace_err', '-error_file', path.join(dir, 'errors.log'));
  args.push('-trace_screen', '-screen_file', path.join(dir, 'screen.log'));
  if (opts.traceRtt) args.push('-trace_rtt', '-rtt_freq', '1');
  args.push('-nostdin', `127.0.0.1:${opts.sipPort}`);
  const command = `sipp ${args.map((a) => (/[\s;]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`;

  const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  // SIPp's own -timeout ends the run; this is only a backstop if SIPp itself wedges.
  const backstop = setTimeout(() => child.kill('SIGKILL'), (opts.timeoutS + 30) * 1000);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
  clearTimeout(backstop);

  const read = (name: string) => readFile(path.join(dir, name), 'utf8').catch(() => '');
  const files = await readdir(dir);
  const rttFile = files.find((f) => f.endsWith('_rtt.csv'));
  const rows = parseStats(await read('stats.csv'));
  const result: SippResult = {
    exitCode,
    stats: rows[rows.length - 1] ?? {},
    peakConcurrent: Math.max(0, ...rows.map((r) => Number(r.CurrentCall ?? 0))),
    errors: (await read('errors.log')) + stderr,
    screen: await read('screen.log'),
    rtt: rttFile ? parseRtt(await read(rttFile)) : [],
    command,
    dir,
  };
  if (!opts.keep) await rm(dir, { recursive: true, force: true });
  return result;
}

/** A readable summary for assertion messages: the error log's head and the final screen. */
export function describeRun(result: SippResult): string {
  return `${result.command}\nexit ${result.exitCode}\n${result.errors.slice(0, 4000)}\n${result.screen.slice(-3000)}`;
}
