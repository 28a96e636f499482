export { startNatsServer, type RunningNatsServer } from './nats-server.js';
export { FakeClock } from './fake-clock.js';
