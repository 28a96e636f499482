export { FakeClock } from './fake-clock.js';
export { type RunningNatsServer, startNatsServer } from './nats-server.js';
export { refuseListing } from './refuse-listing.js';
