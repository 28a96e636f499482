import { ConfigError, loadConfig } from '@sip-pubsub/platform';
import { describe, expect, it } from 'vitest';
import { focusConfigSchema } from './config.js';

describe('focus configuration: CONFERENCE_IDLE_TTL', () => {
  it('is off (0) by default and takes the duration format of the other settings', () => {
    expect(loadConfig(focusConfigSchema, {}).CONFERENCE_IDLE_TTL).toBe(0);
    expect(loadConfig(focusConfigSchema, { CONFERENCE_IDLE_TTL: '0' }).CONFERENCE_IDLE_TTL).toBe(0);
    expect(loadConfig(focusConfigSchema, { CONFERENCE_IDLE_TTL: '90s' }).CONFERENCE_IDLE_TTL).toBe(90_000);
    expect(loadConfig(focusConfigSchema, { CONFERENCE_IDLE_TTL: '1.5h' }).CONFERENCE_IDLE_TTL).toBe(
      5_400_000,
    );
    expect(loadConfig(focusConfigSchema, { CONFERENCE_IDLE_TTL: '2000' }).CONFERENCE_IDLE_TTL).toBe(2_000);
  });

  it('a bad value or one below 1 s stops the start, naming the setting', () => {
    for (const bad of ['soon', '-5s', '10 minutes', '500ms', '999']) {
      let error: unknown;
      try {
        loadConfig(focusConfigSchema, { CONFERENCE_IDLE_TTL: bad });
      } catch (err) {
        error = err;
      }
      expect(error, bad).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe('CONFERENCE_IDLE_TTL');
      expect((error as Error).message).toMatch(/^CONFERENCE_IDLE_TTL: expected /);
    }
  });
});
