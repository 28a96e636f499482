// `npm run bench [-- <name> [flags]]`: builds (the ramps start the built services), then runs the named
// benchmarks or all of them in turn. Benchmarks print figures; nothing here is asserted. Every table is
// printed under the machine line (CPU, cores, load average, node) and the command that reproduces it.
//   sip-parse   parse + serialize rate of packages/sip                 flags: --seconds N
//   sipp-ramp   SIPp factory+join+leave ramp, embedded, split and a Kamailio stateful stub
//               flags: --seconds N --rates a,b,c --kamailio-rates a,b,c
//   ceiling     fan-out ceilings per P→S shape, relay vs Mosquitto vs NATS core, multi-process load
//               flags: --seconds N --steps N --factor F --workers N --p99 MS --shapes 1x10,1x100x2
//   fanout      fixed-rate fan-out, relay translate + aggregate vs Mosquitto (mqtt.js, one process)
//               flags: --seconds N --target deliveries/s
//   edge-capacity  routed factory INVITEs/s, limiter off              flags: --seconds N --concurrency N
//   events      PUBLISH transactions/s, SUBSCRIBE+NOTIFY/s (SIPp) and pubsub-data NOTIFYs/s
//               flags: --seconds N --rates a,b,c --subscribe-rates a,b,c --watchers W --packs P
//   topics      bytes per idle topic in the focus (heap after GC) and in JetStream
//               flags: --topics N (100000 for the figure) --rate R
//   churn       idle CPU of every process after N joins/leaves and N subscribe/unsubscribes
//               flags: --churn N --rate R --window S --windows N --replicas N
//   dial-out    REFER dial-outs completed/s (SIPp referrer + SIPp dialled party), embedded and split
//               flags: --seconds N --rates a,b,c
import { main as ceiling } from './ceiling.bench.js';
import { main as churn } from './churn.bench.js';
import { main as dialOut } from './dial-out.bench.js';
import { main as edgeCapacity } from './edge-capacity.js';
import { main as events } from './events.bench.js';
import { main as fanout } from './fanout.bench.js';
import { main as sipParse } from './sip-parse.bench.js';
import { main as sippRamp } from './sipp-ramp.js';
import { main as topics } from './topics.bench.js';

const benches: Record<string, () => Promise<void>> = {
  'sip-parse': sipParse,
  'sipp-ramp': sippRamp,
  ceiling,
  fanout,
  'edge-capacity': edgeCapacity,
  events,
  topics,
  churn,
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
