// CPU time and resident memory of server processes, read from /proc the same way for every system, and
// the process id of a server found by its listening port on the command line.
import { readdir, readFile } from 'node:fs/promises';

/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat; 100 on Linux for every architecture. */
const TICKS_PER_SECOND = 100;

/** utime + stime of a process in microseconds. */
export async function cpuUs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
}

/** Sum of cpuUs over several processes (a system made of more than one). */
export async function cpuUsOf(pids: number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await cpuUs(pid).catch(() => 0);
  return total;
}

/** The first process whose command line starts with `binary` and contains every one of `args`. */
export async function pidByCommand(binary: string, args: string[]): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const argv = cmdline.split('\0');
    if (!(argv[0] ?? '').endsWith(binary)) continue;
    if (args.every((a) => argv.includes(a))) return Number(entry);
  }
  return undefined;
}

/** CPU share (percent of one core) of each process over `ms` of wall time. */
export async function cpuPercentOver(pids: number[], ms: number): Promise<number[]> {
  const before = await Promise.all(pids.map((p) => cpuUs(p).catch(() => Number.NaN)));
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const after = await Promise.all(pids.map((p) => cpuUs(p).catch(() => Number.NaN)));
  const wallUs = (performance.now() - t0) * 1000;
  return pids.map((_, i) => (100 * (after[i] - before[i])) / wallUs);
}
