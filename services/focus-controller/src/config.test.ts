import { ConfigError, loadConfig } from '@sip-pubsub/platform';
import { describe, expect, it } from 'vitest';
import { focusConfigSchema } from './config.js';

describe('focus configuration: REFER settings', () => {
  it('ADMIN_IDENTITIES: a comma list of user names and sip: URIs, empty by default', () => {
    expect(loadConfig(focusConfigSchema, {}).ADMIN_IDENTITIES).toEqual([]);
    expect(
      loadConfig(focusConfigSchema, { ADMIN_IDENTITIES: ' root , sip:ops@example.net,' }).ADMIN_IDENTITIES,
    ).toEqual(['root', 'sip:ops@example.net']);
  });

  it('ADMIN_IDENTITIES: an entry that is neither stops the start, naming the variable', () => {
    for (const bad of ['tel:+123', 'sip:no-host', 'two words'])
      expect(() => loadConfig(focusConfigSchema, { ADMIN_IDENTITIES: bad })).toThrow(
        expect.objectContaining({
          name: ConfigError.name,
          message: expect.stringContaining('ADMIN_IDENTITIES'),
        }),
      );
  });

  it('DIAL_OUT_TIMEOUT_MS takes a duration', () => {
    expect(loadConfig(focusConfigSchema, {}).DIAL_OUT_TIMEOUT_MS).toBe(30_000);
    expect(loadConfig(focusConfigSchema, { DIAL_OUT_TIMEOUT_MS: '5s' }).DIAL_OUT_TIMEOUT_MS).toBe(5_000);
  });
});

describe('focus configuration', () => {
  it('FACTORY_MODE defaults to redirect, takes join, and a bad value names the setting', () => {
    expect(loadConfig(focusConfigSchema, {}).FACTORY_MODE).toBe('redirect');
    expect(loadConfig(focusConfigSchema, { FACTORY_MODE: 'join' }).FACTORY_MODE).toBe('join');
    let error: unknown;
    try {
      loadConfig(focusConfigSchema, { FACTORY_MODE: 'merge' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/FACTORY_MODE/);
  });
});

describe('focus configuration: MAX_LEGS_PER_CONFERENCE', () => {
  it('takes up to 4000 (a roster index past ~5,300 legs exceeds NATS max_payload) and names itself above', () => {
    expect(loadConfig(focusConfigSchema, {}).MAX_LEGS_PER_CONFERENCE).toBe(1_000);
    expect(loadConfig(focusConfigSchema, { MAX_LEGS_PER_CONFERENCE: '4000' }).MAX_LEGS_PER_CONFERENCE).toBe(
      4_000,
    );
    expect(() => loadConfig(focusConfigSchema, { MAX_LEGS_PER_CONFERENCE: '10000' })).toThrow(
      expect.objectContaining({
        name: ConfigError.name,
        message: expect.stringContaining('MAX_LEGS_PER_CONFERENCE'),
      }),
    );
  });
});
