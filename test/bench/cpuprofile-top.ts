// Prints the functions with the most self time in a V8 .cpuprofile (from `node --cpu-prof`), with µs per
// delivery when told how many deliveries the profiled run made. Figures only.
//   node --import tsx test/bench/cpuprofile-top.ts <file.cpuprofile> [--top 25] [--deliveries N]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file] = process.argv.slice(2);
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
};
const top = arg('top') ?? 25;
const deliveries = arg('deliveries');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]);
  const dt = profile.timeDeltas[i] ?? 0;
  if (!node) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  if (functionName === '(idle)' || functionName === '(program)') continue;
  const where = url
    ? `${url.replace(/^.*\/(node_modules|packages|services|test)\//, '$1/')}:${lineNumber + 1}`
    : '';
  const key = `${functionName || '(anonymous)'} ${where}`.trim();
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
}
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top);
process.stdout.write(
  `busy ${(total / 1000).toFixed(0)} ms (idle and (program) left out)${deliveries ? `, ${deliveries} deliveries: ${(total / deliveries).toFixed(2)} µs/delivery` : ''}\n`,
);
for (const [name, us] of rows) {
  const share = ((us / total) * 100).toFixed(1).padStart(5);
  const per = deliveries ? `  ${(us / deliveries).toFixed(3).padStart(7)} µs/del` : '';
  process.stdout.write(`${share}%  ${(us / 1000).toFixed(1).padStart(8)} ms${per}  ${name}\n`);
}
