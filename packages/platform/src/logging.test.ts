import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, prettyByDefault, serviceLogger } from './logging.js';

function sink() {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { destination, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

describe('logging', () => {
  it('writes exactly one service key per line, the innermost service logger winning, children included', () => {
    const out = sink();
    const embedded = createLogger('embedded', { destination: out.destination, instance: 'i1' });
    const focus = serviceLogger(embedded, 'focus-controller');
    embedded.info('broker up');
    focus.info('focus up');
    focus.child({ conference: 'conf-1' }).warn({ callId: 'c@h' }, 'refused');
    serviceLogger(focus, 'notifier').info('nested');
    const lines = out.lines();
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line.match(/"service":/g)).toHaveLength(1);
    expect(lines.map((l) => JSON.parse(l).service)).toEqual([
      'embedded',
      'focus-controller',
      'focus-controller',
      'notifier',
    ]);
    expect(JSON.parse(lines[2])).toMatchObject({
      level: 'warn',
      instance: 'i1',
      conference: 'conf-1',
      callId: 'c@h',
      msg: 'refused',
    });
  });

  it('writes human-readable lines when asked, naming the service, and JSON otherwise', () => {
    const pretty = sink();
    createLogger('media-relay', { destination: pretty.destination, pretty: true, instance: 'i1' }).info(
      { port: 20000 },
      'listening',
    );
    const [first, second] = pretty.lines();
    expect(() => JSON.parse(first)).toThrow();
    expect(first).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: media-relay: listening$/);
    expect(second.trim()).toBe('port: 20000');
    const json = sink();
    createLogger('media-relay', { destination: json.destination }).info('listening');
    expect(JSON.parse(json.lines()[0])).toMatchObject({
      service: 'media-relay',
      msg: 'listening',
      level: 'info',
    });
  });

  it('is pretty by default only on a terminal', () => {
    expect(prettyByDefault({ isTTY: true })).toBe(true);
    expect(prettyByDefault({ isTTY: false })).toBe(false);
    expect(prettyByDefault({})).toBe(false);
  });
});
