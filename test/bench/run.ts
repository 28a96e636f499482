// `npm run bench [-- <name> [flags]]`: builds (the ramp starts the built services), then runs the named
// benchmark or all of them in turn. Benchmarks print figures; nothing here is asserted.
//   sip-parse   parse + serialize rate of packages/sip            flags: --seconds N
//   sipp-ramp   SIPp factory+join+leave ramp, embedded and split    flags: --seconds N --rates a,b,c
//   fanout      relay (translate, aggregate) vs Mosquitto fan-out   flags: --seconds N --target deliveries/s
//   edge-capacity  routed factory INVITEs/s, limiter off              flags: --seconds N --concurrency N
//   dial-out    REFER dial-outs completed/s (SIPp referrer + SIPp dialled party), embedded and split
//               flags: --seconds N --rates a,b,c
import { main as dialOut } from './dial-out.bench.js';
import { main as edgeCapacity } from './edge-capacity.js';
//   events      PUBLISH transactions/s (SIPp) and pubsub-data NOTIFYs/s, embedded and split
//               flags: --seconds N --rates a,b,c --watchers W --packs P
import { main as events } from './events.bench.js';
import { main as fanout } from './fanout.bench.js';
import { main as sipParse } from './sip-parse.bench.js';
import { main as sippRamp } from './sipp-ramp.js';

const benches: Record<string, () => Promise<void>> = {
  'sip-parse': sipParse,
  'sipp-ramp': sippRamp,
  fanout,
  'edge-capacity': edgeCapacity,
  events,
  'dial-out': dialOut,
};
const wanted = process.argv.slice(2).filter((a) => a in benches);
const unknown = process.argv
  .slice(2)
  .find((a, i, all) => !a.startsWith('--') && !(all[i - 1] ?? '').startsWith('--') && !(a in benches));
if (unknown) {
  process.stderr.write(`unknown benchmark "${unknown}"; choose from: ${Object.keys(benches).join(', ')}\n`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(benches)) await benches[name]();
process.exit(0);
