import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logging.js';
import { installShutdown } from './shutdown.js';

const logger = createLogger('test', { level: 'silent' });

function fakeProcess() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  let onExit: (() => void) | undefined;
  const exited = new Promise<void>((resolve) => {
    onExit = resolve;
  });
  const proc = {
    on: emitter.on.bind(emitter),
    exit: (code: number) => {
      exits.push(code);
      onExit?.();
    },
  } as unknown as NodeJS.Process;
  return { emitter, exits, exited, proc };
}

describe('installShutdown', () => {
  it('drains once on SIGTERM, then exits 0', async () => {
    const { emitter, exits, exited, proc } = fakeProcess();
    let drains = 0;
    installShutdown({ logger, process: proc, drain: async () => void drains++ });
    emitter.emit('SIGTERM', 'SIGTERM');
    await exited;
    expect(drains).toBe(1);
    expect(exits).toEqual([0]);
  });

  it('exits 1 on a second signal while draining', async () => {
    const { emitter, exits, exited, proc } = fakeProcess();
    let drains = 0;
    const drain = () => {
      drains++;
      return new Promise<void>(() => {});
    };
    installShutdown({ logger, process: proc, drain });
    emitter.emit('SIGINT', 'SIGINT');
    emitter.emit('SIGTERM', 'SIGTERM');
    await exited;
    expect(drains).toBe(1);
    expect(exits).toEqual([1]);
  });

  it('exits 1 when the drain does not finish in time', async () => {
    const { emitter, exits, exited, proc } = fakeProcess();
    installShutdown({ logger, process: proc, timeoutMs: 10, drain: () => new Promise(() => {}) });
    emitter.emit('SIGTERM', 'SIGTERM');
    await exited;
    expect(exits).toEqual([1]);
  });

  it('exits 1 when the drain fails', async () => {
    const { emitter, exits, exited, proc } = fakeProcess();
    installShutdown({ logger, process: proc, drain: async () => Promise.reject(new Error('stuck')) });
    emitter.emit('SIGTERM', 'SIGTERM');
    await exited;
    expect(exits).toEqual([1]);
  });
});
