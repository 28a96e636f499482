import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BROKER_BIN, BrokerNotInstalledError, findBrokerBinary } from './broker-binary.js';

describe('findBrokerBinary', () => {
  it('finds node_modules/.bin/sip-pubsub-broker in an ancestor of the start directory', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'sip-pubsub-bin-'));
    const bin = path.join(root, 'node_modules', '.bin');
    mkdirSync(bin, { recursive: true });
    const program = path.join(bin, BROKER_BIN);
    writeFileSync(program, '#!/bin/sh\n');
    chmodSync(program, 0o755);
    const deep = path.join(root, 'a', 'b', 'c');
    mkdirSync(deep, { recursive: true });
    expect(findBrokerBinary([deep])).toBe(program);
  });

  it('tries each start directory in turn and says where it looked when nothing is there', () => {
    const seen: string[] = [];
    const found = findBrokerBinary(['/x/y', '/z'], (file) => {
      seen.push(file);
      return file === path.join('/z', 'node_modules', '.bin', BROKER_BIN);
    });
    expect(found).toBe(path.join('/z', 'node_modules', '.bin', BROKER_BIN));
    expect(seen.slice(0, 3)).toEqual([
      path.join('/x/y', 'node_modules', '.bin', BROKER_BIN),
      path.join('/x', 'node_modules', '.bin', BROKER_BIN),
      path.join('/', 'node_modules', '.bin', BROKER_BIN),
    ]);
    expect(findBrokerBinary(['/nowhere'], () => false)).toBeUndefined();
    expect(new BrokerNotInstalledError(['/nowhere']).message).toMatch(/npm install @sip-pubsub\/embedded/);
  });
});
