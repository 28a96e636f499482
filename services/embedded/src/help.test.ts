import { focusConfigSchema } from '@sip-pubsub/focus-controller';
import { relayConfigSchema } from '@sip-pubsub/media-relay';
import { notifierConfigSchema } from '@sip-pubsub/notifier';
import { edgeConfigSchema } from '@sip-pubsub/signalling-edge';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { embeddedConfigSchema } from './config.js';
import { helpText, parseBrokerArgs, settingsOf } from './help.js';

const ALL = [
  embeddedConfigSchema,
  edgeConfigSchema,
  focusConfigSchema,
  relayConfigSchema,
  notifierConfigSchema,
];

describe('the broker command line', () => {
  it('runs with no argument, helps with --help or -h, refuses anything else by name', () => {
    expect(parseBrokerArgs([])).toEqual({ kind: 'run' });
    expect(parseBrokerArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseBrokerArgs(['-h', '--help'])).toEqual({ kind: 'help' });
    const refused = parseBrokerArgs(['--help', 'serve']);
    expect(refused.kind === 'usage-error' && refused.message).toMatch(/^unknown argument "serve"/);
  });

  it('refuses every argument list with anything but a help flag, naming the first such argument (fast-check)', () => {
    const arg = fc.oneof(fc.constantFrom('--help', '-h'), fc.string({ maxLength: 12 }));
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 6 }), (argv) => {
        const parsed = parseBrokerArgs(argv);
        const other = argv.find((a) => a !== '--help' && a !== '-h');
        if (argv.length === 0) return parsed.kind === 'run';
        if (other === undefined) return parsed.kind === 'help';
        return parsed.kind === 'usage-error' && parsed.message.startsWith(`unknown argument "${other}"`);
      }),
    );
  });

  it('lists every variable any service reads, once, with the broker default first', () => {
    const settings = settingsOf(ALL);
    const names = settings.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const schema of ALL)
      for (const name of Object.keys(schema.shape))
        if (!name.startsWith('GRPC_')) expect(names).toContain(name);
    const value = (name: string) => settings.find((s) => s.name === name)?.defaultValue;
    expect(value('HTTP_PORT')).toBe('9090'); // the embedded broker's, not the edge's
    expect(value('SIP_PORT')).toBe('5060');
    expect(value('INSTANCE_ID')).toBe('(unset)');
    expect(value('SIP_RATE_PER_SOURCE')).toBe('200:400'); // as it is written, not as it is parsed
    expect(value('K8S_SERVICE_PREFIX')).toBe('(empty)');
    expect(names).not.toContain('GRPC_HOST');
    const text = helpText(settings);
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
    const settings = settingsOf([schema]);
    expect(settings).toEqual([
      { name: 'LIST', defaultValue: 'udp,tcp' },
      { name: 'NEEDED', defaultValue: '(required)' },
      { name: 'SECRET', defaultValue: '(generated)' },
    ]);
  });
});
