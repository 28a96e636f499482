import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { helpText, parseProcessArgs, settingsOf } from './command-line.js';
import { baseConfigShape, env } from './config.js';

describe('the command line of a process', () => {
  it('runs with no argument, helps with --help or -h, refuses anything else by name', () => {
    expect(parseProcessArgs([], 'p')).toEqual({ kind: 'run' });
    expect(parseProcessArgs(['--help'], 'p')).toEqual({ kind: 'help' });
    expect(parseProcessArgs(['-h', '--help'], 'p')).toEqual({ kind: 'help' });
    const refused = parseProcessArgs(['--help', 'serve'], 'sip-pubsub-broker');
    expect(refused).toEqual({
      kind: 'usage-error',
      message:
        'unknown argument "serve": settings are environment variables (sip-pubsub-broker --help lists them)',
    });
  });

  it('refuses every argument list with anything but a help flag, naming the first such argument (fast-check)', () => {
    const arg = fc.oneof(fc.constantFrom('--help', '-h'), fc.string({ maxLength: 12 }));
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 6 }), (argv) => {
        const parsed = parseProcessArgs(argv, 'p');
        const other = argv.find((a) => a !== '--help' && a !== '-h');
        if (argv.length === 0) return parsed.kind === 'run';
        if (other === undefined) return parsed.kind === 'help';
        return parsed.kind === 'usage-error' && parsed.message.startsWith(`unknown argument "${other}"`);
      }),
    );
  });

  it('lists every variable once, the first schema’s default winning, without those the program sets', () => {
    const broker = z.object({ ...baseConfigShape, HTTP_PORT: env.port(9090), SIP_PORT: env.port(5060) });
    const service = z.object({
      ...baseConfigShape,
      GRPC_PORT: env.port(50051),
      SIP_RATE_PER_SOURCE: env.string('200:400').transform((raw) => {
        const [rate, burst] = raw.split(':').map(Number);
        return { rate, burst };
      }),
    });
    const settings = settingsOf([broker, service], new Set(['GRPC_PORT']));
    const names = settings.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual([...names].sort());
    for (const name of [...Object.keys(broker.shape), 'SIP_RATE_PER_SOURCE']) expect(names).toContain(name);
    expect(names).not.toContain('GRPC_PORT');
    const value = (name: string) => settings.find((s) => s.name === name)?.defaultValue;
    expect(value('HTTP_PORT')).toBe('9090'); // the first schema's, not baseConfigShape's 9100
    expect(value('INSTANCE_ID')).toBe('(unset)');
    expect(value('SIP_RATE_PER_SOURCE')).toBe('200:400'); // as it is written, not as it is parsed
    expect(value('K8S_SERVICE_PREFIX')).toBe('(empty)');
    const text = helpText('p [--help]', ['About p.'], settings);
    expect(text.startsWith('Usage: p [--help]\n\nAbout p.\n')).toBe(true);
    expect(text.split('\n').filter((l) => /^ {2}[A-Z0-9_]+ /.test(l))).toHaveLength(settings.length);
  });

  it('says when a default is made at load time or a value is required', () => {
    let n = 0;
    const schema = z.object({
      SECRET: z
        .string()
        .optional()
        .transform(() => `s${n++}`),
      NEEDED: z.string(),
      LIST: z
        .string()
        .optional()
        .transform(() => ['udp', 'tcp']),
    });
    expect(settingsOf([schema])).toEqual([
      { name: 'LIST', defaultValue: 'udp,tcp' },
      { name: 'NEEDED', defaultValue: '(required)' },
      { name: 'SECRET', defaultValue: '(generated)' },
    ]);
  });
});
