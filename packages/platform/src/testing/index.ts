export { FakeClock } from './fake-clock.js';
export {
  type NatsClusterNode,
  type RunningNatsCluster,
  type RunningNatsServer,
  startNatsCluster,
  startNatsServer,
} from './nats-server.js';
export { refuseListing } from './refuse-listing.js';
