// What every benchmark prints first: the machine, the runtime and the command, so a figure can be
// compared with another only when these match.
import * as os from 'node:os';

export function machineLines(command: string): string[] {
  const cpus = os.cpus();
  return [
    `machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${os.type()} ${os.release()} ${os.arch()}`,
    `runtime: node ${process.version}; load average at start ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (other work on the machine skews every figure)`,
    `command: ${command}`,
  ];
}

export function printHeader(title: string, command: string): void {
  process.stdout.write(`\n== ${title} ==\n${machineLines(command).join('\n')}\n\n`);
}

/** Prints rows as a fixed-width table; the first row is the header. */
export function printTable(rows: (string | number)[][]): void {
  const text = rows.map((r) => r.map(String));
  const widths = text[0].map((_, i) => Math.max(...text.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  process.stdout.write(`${line(text[0])}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of text.slice(1)) process.stdout.write(`${line(r)}\n`);
}

export const fmt = {
  int: (n: number) => Math.round(n).toLocaleString('en-US'),
  fixed: (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-'),
};
