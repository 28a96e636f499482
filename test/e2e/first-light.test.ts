import { afterAll, beforeAll, describe, it } from 'vitest';
import { type RunningBroker, startEmbedded, startSeparateProcesses } from '../support/brokers.js';
import { runFirstLight } from './first-light.js';

describe('first light: four services as separate processes with nats-server and gRPC', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startSeparateProcesses();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('creates a topic, fans publications out to two subscribers and keeps a watcher informed', async () => {
    await runFirstLight(broker.sipPort, 'plant-7/boiler/temp');
  });
});

describe('first light: the embedded broker of npm start', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startEmbedded();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('runs the same flow in one process', async () => {
    await runFirstLight(broker.sipPort, 'plant-7/boiler/pressure');
  });
});
