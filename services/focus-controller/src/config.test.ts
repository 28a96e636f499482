import { ConfigError, loadConfig } from '@sip-pubsub/platform';
import { describe, expect, it } from 'vitest';
import { focusConfigSchema } from './config.js';

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
