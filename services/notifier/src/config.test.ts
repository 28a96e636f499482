import { ConfigError, loadConfig } from '@sip-pubsub/platform';
import { describe, expect, it } from 'vitest';
import { notifierConfigSchema } from './config.js';

describe('notifier configuration: CONFERENCE_IDLE_TTL (the focus setting the watchers records follow)', () => {
  it('is off by default, takes durations, and a bad value names the setting', () => {
    expect(loadConfig(notifierConfigSchema, {}).CONFERENCE_IDLE_TTL).toBe(0);
    expect(loadConfig(notifierConfigSchema, { CONFERENCE_IDLE_TTL: '10m' }).CONFERENCE_IDLE_TTL).toBe(
      600_000,
    );
    expect(() => loadConfig(notifierConfigSchema, { CONFERENCE_IDLE_TTL: '100ms' })).toThrow(ConfigError);
    expect(() => loadConfig(notifierConfigSchema, { CONFERENCE_IDLE_TTL: 'never' })).toThrow(
      /^CONFERENCE_IDLE_TTL: /,
    );
  });
});
