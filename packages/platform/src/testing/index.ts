export { CountingKvStore } from './count-operations.js';
export { FakeClock } from './fake-clock.js';
export {
  type FakeKubeAnswer,
  type FakeKubeRequest,
  FakeKubernetesApi,
  kubeStatus,
} from './fake-kubernetes-api.js';
export {
  type NatsClusterNode,
  type RunningNatsCluster,
  type RunningNatsServer,
  startNatsCluster,
  startNatsServer,
} from './nats-server.js';
export { refuseListing } from './refuse-listing.js';
