import { validatePack } from '@sip-pubsub/senml';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CliUsageError, DEFAULT_SERVER, packFromFlags, parseCliArgs, valueField } from './cli-args.js';

function usageError(fn: () => unknown): CliUsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliUsageError);
    return err as CliUsageError;
  }
  throw new Error('expected a CliUsageError');
}

describe('parseCliArgs', () => {
  it('builds a one-record pack from publish flags', () => {
    const cmd = parseCliArgs([
      'publish',
      'plant-7/boiler/temp',
      '--name',
      'temp',
      '--value',
      '21.5',
      '--unit',
      'Cel',
    ]);
    expect(cmd).toEqual({
      command: 'publish',
      topic: 'plant-7/boiler/temp',
      connection: { server: DEFAULT_SERVER, transport: 'udp' },
      source: { kind: 'record', pack: [{ n: 'temp', u: 'Cel', v: 21.5 }] },
      method: 'invite',
      retainOnly: false,
    });
  });

  it('reads the event-state options: --method publish, --expires, --retain-only, --events, wildcards, get', () => {
    const cmd = parseCliArgs([
      'publish',
      't/x',
      '-n',
      'temp',
      '-v',
      '1',
      '--method',
      'publish',
      '--retain-only',
      '--expires',
      '120',
    ]);
    expect(cmd).toMatchObject({ command: 'publish', method: 'publish', retainOnly: true, expires: 120 });
    expect(parseCliArgs(['subscribe', 't/x', '--events'])).toMatchObject({
      command: 'subscribe',
      events: true,
    });
    // A wildcard filter can only be read through SIP events.
    expect(parseCliArgs(['subscribe', 'plant-7/#'])).toMatchObject({ events: true, topic: 'plant-7/#' });
    expect(parseCliArgs(['subscribe', 'plant-7/+/temp'])).toMatchObject({ events: true });
    expect(parseCliArgs(['subscribe', 'plant-7/c++/temp'])).toMatchObject({ events: false });
    expect(parseCliArgs(['get', 'a/b', '--json'])).toEqual({
      command: 'get',
      topic: 'a/b',
      connection: { server: DEFAULT_SERVER, transport: 'udp' },
      json: true,
    });
    expect(() => parseCliArgs(['publish', 't', '-n', 'a', '-v', '1', '--retain-only'])).toThrow(
      /--retain-only needs --method publish/,
    );
    expect(() => parseCliArgs(['publish', 't', '-n', 'a', '-v', '1', '--method', 'carrier-pigeon'])).toThrow(
      /expected invite or publish/,
    );
    expect(() => parseCliArgs(['publish', 't', '--stdin', '--method', 'publish', '--retain-only'])).toThrow(
      /publishes once/,
    );
    expect(() => parseCliArgs(['get'])).toThrow(/get needs a topic/);
  });

  it('takes the server from --server, else SIP_PUBSUB_SERVER, else the default', () => {
    const env = { SIP_PUBSUB_SERVER: '10.0.0.5:5070' };
    const fromEnv = parseCliArgs(['subscribe', 't'], env);
    expect(fromEnv.command === 'subscribe' && fromEnv.connection.server).toBe('10.0.0.5:5070');
    const fromFlag = parseCliArgs(['subscribe', 't', '--server', '[::1]:6000'], env);
    expect(fromFlag.command === 'subscribe' && fromFlag.connection.server).toBe('[::1]:6000');
    const fallback = parseCliArgs(['subscribe', 't'], {});
    expect(fallback.command === 'subscribe' && fallback.connection.server).toBe('127.0.0.1:5060');
  });

  it('reads the options of subscribe and watch', () => {
    expect(parseCliArgs(['subscribe', 'a/b', '--json', '--count', '3', '--transport', 'tcp'])).toEqual({
      command: 'subscribe',
      topic: 'a/b',
      connection: { server: DEFAULT_SERVER, transport: 'tcp' },
      json: true,
      count: 3,
      events: false,
    });
    expect(parseCliArgs(['watch', 'a/b', '--domain', 'example.com', '--user', 'alice'])).toEqual({
      command: 'watch',
      topic: 'a/b',
      connection: { server: DEFAULT_SERVER, transport: 'udp', domain: 'example.com', user: 'alice' },
      json: false,
    });
  });

  it('publish from a file or stdin, with interval and count', () => {
    const file = parseCliArgs(['publish', 't', '--file', 'pack.json', '--interval', '500', '--count', '4']);
    expect(file).toMatchObject({ source: { kind: 'file', path: 'pack.json' }, intervalMs: 500, count: 4 });
    expect(parseCliArgs(['publish', 't', '--stdin'])).toMatchObject({ source: { kind: 'stdin' } });
  });

  it('passes serve arguments through and answers --help per command', () => {
    expect(parseCliArgs(['serve', '--port', '5070'])).toEqual({ command: 'serve', args: ['--port', '5070'] });
    expect(parseCliArgs(['publish', '--help'])).toEqual({ command: 'help', about: 'publish' });
    expect(parseCliArgs(['watch', 't', '-h'])).toEqual({ command: 'help', about: 'watch' });
    expect(parseCliArgs([])).toEqual({ command: 'help' });
    expect(parseCliArgs(['help', 'subscribe'])).toEqual({ command: 'help', about: 'subscribe' });
  });

  it('names what is wrong', () => {
    expect(usageError(() => parseCliArgs(['frobnicate'])).message).toMatch(/unknown command "frobnicate"/);
    expect(usageError(() => parseCliArgs(['publish', '--name', 'x', '--value', '1'])).message).toMatch(
      /publish needs a topic/,
    );
    expect(usageError(() => parseCliArgs(['publish', 't'])).message).toMatch(/publish needs data/);
    expect(usageError(() => parseCliArgs(['publish', 't', '--value', '3'])).message).toMatch(
      /--value needs --name/,
    );
    expect(usageError(() => parseCliArgs(['publish', 't', '--name', 'temp'])).message).toMatch(
      /--name temp needs --value/,
    );
    expect(usageError(() => parseCliArgs(['publish', 't', '--stdin', '--file', 'f'])).message).toMatch(
      /one data source, got --file and --stdin/,
    );
    expect(usageError(() => parseCliArgs(['publish', 't', '--stdin', '--interval', '0'])).message).toMatch(
      /--interval "0" is not a positive integer/,
    );
    expect(usageError(() => parseCliArgs(['subscribe', 't', '--count', 'many'])).message).toMatch(
      /--count "many"/,
    );
    expect(usageError(() => parseCliArgs(['subscribe', 't', '--transport', 'sctp'])).message).toMatch(
      /--transport "sctp"/,
    );
    expect(usageError(() => parseCliArgs(['subscribe', 't', '--server', 'no port:x'])).message).toMatch(
      /--server "no port:x" is not host:port/,
    );
    expect(usageError(() => parseCliArgs(['watch', 'a', 'b'])).message).toMatch(/takes one topic/);
    const unknown = usageError(() => parseCliArgs(['watch', 't', '--bogus']));
    expect(unknown.message).toMatch(/--bogus/);
    expect(unknown.command).toBe('watch');
    expect(
      usageError(() => parseCliArgs(['publish', 't', '--time', 'soon', '--name', 'a', '--value', '1']))
        .message,
    ).toMatch(/--time "soon"/);
  });

  it('throws nothing but CliUsageError for any argument list', () => {
    const token = fc.oneof(
      fc.constantFrom(
        'publish',
        'subscribe',
        'watch',
        'topics',
        'serve',
        'help',
        '--name',
        '--value',
        '--unit',
        '--file',
        '--stdin',
        '--json',
        '--count',
        '--interval',
        '--server',
        '--transport',
        '-h',
        '-n',
        '-v',
      ),
      fc.string(),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 8 }), (argv) => {
        try {
          parseCliArgs(argv, {});
        } catch (err) {
          if (!(err instanceof CliUsageError)) throw err;
        }
      }),
    );
  });
});

describe('packFromFlags', () => {
  it('maps the value to v, vb or vs (RFC 8428 §4.3)', () => {
    expect(packFromFlags({ name: 'temp', value: '-3.5e1', unit: 'Cel', time: '-5' })).toEqual([
      { n: 'temp', u: 'Cel', v: -35, t: -5 },
    ]);
    expect(packFromFlags({ name: 'door', value: 'true' })).toEqual([{ n: 'door', vb: true }]);
    expect(packFromFlags({ name: 'state', value: 'open' })).toEqual([{ n: 'state', vs: 'open' }]);
    expect(packFromFlags({ name: 'code', value: '"42"' })).toEqual([{ n: 'code', vs: '42' }]);
  });

  it('gives a pack that validates for any finite number and name of allowed characters', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9\-:._/]{0,20}$/);
    fc.assert(
      fc.property(name, fc.double({ noNaN: true, noDefaultInfinity: true }), (n, v) => {
        const pack = packFromFlags({ name: n, value: String(v) });
        validatePack(pack);
        expect(pack[0].v).toBe(v === 0 ? 0 : v);
      }),
    );
  });

  it('valueField keeps text that only looks like a number as a string', () => {
    expect(valueField('0x10')).toEqual({ vs: '0x10' });
    expect(valueField('Infinity')).toEqual({ vs: 'Infinity' });
    expect(valueField('.5')).toEqual({ v: 0.5 });
  });
});
