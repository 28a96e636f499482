import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  baseConfig,
  baseConfigShape,
  ConfigError,
  EXIT_CONFIG,
  env,
  instanceId,
  loadConfig,
  loadConfigOrExit,
} from './config.js';

const schema = z.object({
  ...baseConfigShape,
  SIP_PORT: env.port(5060),
  WORKERS: env.int(4, 1, 64),
  TLS: env.bool(false),
  DOMAIN: env.string('example.invalid'),
  REALM: env.optionalString(),
  MODE: env.enumOf(['translator', 'mixer'] as const, 'translator'),
  GRACE: env.durationMs(20_000),
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('fills every default from an empty environment', () => {
    expect(loadConfig(schema, {})).toEqual({
      LOG_LEVEL: 'info',
      HTTP_PORT: 9100,
      HTTP_HOST: '0.0.0.0',
      NATS_URL: undefined,
      NATS_KV_REPLICAS: 1,
      NATS_KV_LEADERLESS_RETRY_MS: 10_000,
      POD_NAME: undefined,
      INSTANCE_ID: undefined,
      MEMBERSHIP: 'nats',
      POD_NAMESPACE: undefined,
      K8S_SERVICE_PREFIX: '',
      SIP_PORT: 5060,
      WORKERS: 4,
      TLS: false,
      DOMAIN: 'example.invalid',
      REALM: undefined,
      MODE: 'translator',
      GRACE: 20_000,
    });
  });

  it('validates the NATS KV replicas (1–5) and the leaderless retry duration', () => {
    expect(loadConfig(schema, { NATS_KV_REPLICAS: '3', NATS_KV_LEADERLESS_RETRY_MS: '15s' })).toMatchObject({
      NATS_KV_REPLICAS: 3,
      NATS_KV_LEADERLESS_RETRY_MS: 15_000,
    });
    expect(() => loadConfig(schema, { NATS_KV_REPLICAS: '0' })).toThrow(/NATS_KV_REPLICAS/);
    expect(() => loadConfig(schema, { NATS_KV_REPLICAS: '7' })).toThrow(/NATS_KV_REPLICAS/);
    expect(() => loadConfig(schema, { NATS_KV_LEADERLESS_RETRY_MS: 'soon' })).toThrow(
      /NATS_KV_LEADERLESS_RETRY_MS/,
    );
  });

  it('coerces environment strings', () => {
    const cfg = loadConfig(schema, {
      LOG_LEVEL: 'debug',
      HTTP_PORT: '0',
      NATS_URL: 'nats://127.0.0.1:4222',
      SIP_PORT: '5080',
      WORKERS: '64',
      TLS: 'YES',
      DOMAIN: ' pubsub.example ',
      REALM: 'r',
      MODE: 'mixer',
      GRACE: '1.5s',
    });
    expect(cfg).toMatchObject({
      LOG_LEVEL: 'debug',
      HTTP_PORT: 0,
      NATS_URL: 'nats://127.0.0.1:4222',
      SIP_PORT: 5080,
      WORKERS: 64,
      TLS: true,
      DOMAIN: 'pubsub.example',
      REALM: 'r',
      MODE: 'mixer',
      GRACE: 1500,
    });
  });

  it.each([
    ['0', false],
    ['no', false],
    ['False', false],
    ['1', true],
    ['true', true],
  ])('reads boolean %s as %s', (raw, value) => {
    expect(loadConfig(schema, { TLS: raw }).TLS).toBe(value);
  });

  it.each([
    ['250', 250],
    ['250ms', 250],
    ['5s', 5000],
    ['2m', 120_000],
    ['1h', 3_600_000],
  ])('reads duration %s as %d ms', (raw, ms) => {
    expect(loadConfig(schema, { GRACE: raw }).GRACE).toBe(ms);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig(schema, { SIP_PORT: '', REALM: '  ' })).toMatchObject({
      SIP_PORT: 5060,
      REALM: undefined,
    });
  });

  it('names the variable, what it expected and what it got', () => {
    const err = configError(() => loadConfig(schema, { SIP_PORT: 'abc' }));
    expect(err.variable).toBe('SIP_PORT');
    expect(err.message).toBe('SIP_PORT: expected an integer 0–65535, got "abc"');
  });

  it.each([
    ['SIP_PORT', '65536', 'SIP_PORT: expected an integer 0–65535, got "65536"'],
    ['SIP_PORT', '50.5', 'SIP_PORT: expected an integer 0–65535, got "50.5"'],
    ['WORKERS', '0', 'WORKERS: expected an integer 1–64, got "0"'],
    ['TLS', 'maybe', 'TLS: expected true/false/1/0/yes/no, got "maybe"'],
    ['MODE', 'sfu', 'MODE: expected one of translator, mixer, got "sfu"'],
    [
      'LOG_LEVEL',
      'loud',
      'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
  ])('rejects %s=%s', (variable, raw, message) => {
    const err = configError(() => loadConfig(schema, { [variable]: raw }));
    expect(err.variable).toBe(variable);
    expect(err.message).toBe(message);
  });

  it('rejects a bad duration', () => {
    const err = configError(() => loadConfig(schema, { GRACE: '5 minutes' }));
    expect(err.variable).toBe('GRACE');
    expect(err.message).toMatch(/^GRACE: expected a duration.*got "5 minutes"$/);
  });

  it('reports the first bad variable in schema order', () => {
    const err = configError(() => loadConfig(schema, { GRACE: 'x', SIP_PORT: 'y', TLS: 'z' }));
    expect(err.variable).toBe('SIP_PORT');
  });

  it('says when a required variable is not set', () => {
    const required = z.object({ SIP_DOMAIN: z.string() });
    const err = configError(() => loadConfig(required, {}));
    expect(err.variable).toBe('SIP_DOMAIN');
    expect(err.message).toMatch(/^SIP_DOMAIN: .*but it is not set$/);
  });

  it('lets a service choose its own health port default', () => {
    expect(loadConfig(z.object(baseConfig(9102)), {}).HTTP_PORT).toBe(9102);
  });

  it('takes the instance id from INSTANCE_ID, then POD_NAME, then hostname-pid-random', () => {
    expect(instanceId({ INSTANCE_ID: 'a', POD_NAME: 'b' })).toBe('a');
    expect(instanceId({ POD_NAME: 'b' })).toBe('b');
    expect(instanceId({})).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{6}$`));
  });

  it('never throws anything but ConfigError on arbitrary environment strings', () => {
    const keys = Object.keys(schema.shape);
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...keys), fc.option(fc.string(), { nil: undefined })),
        (vars) => {
          try {
            const cfg = loadConfig(schema, vars);
            expect(Number.isInteger(cfg.SIP_PORT) && cfg.SIP_PORT >= 0 && cfg.SIP_PORT <= 65535).toBe(true);
            expect(cfg.WORKERS).toBeGreaterThanOrEqual(1);
            expect(cfg.WORKERS).toBeLessThanOrEqual(64);
          } catch (err) {
            expect(err).toBeInstanceOf(ConfigError);
            expect(keys).toContain((err as ConfigError).variable);
            expect((err as ConfigError).message.startsWith(`${(err as ConfigError).variable}: `)).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('loadConfigOrExit', () => {
  it('prints the message and exits with 78', () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation(((code: number) => {
      throw new Error(`exit ${code}`);
    }) as never);
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(() => loadConfigOrExit(schema, { SIP_PORT: 'abc' })).toThrow(`exit ${EXIT_CONFIG}`);
      expect(write).toHaveBeenCalledWith(
        'configuration error: SIP_PORT: expected an integer 0–65535, got "abc"\n',
      );
    } finally {
      exit.mockRestore();
      write.mockRestore();
    }
  });
});
