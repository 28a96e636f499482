import { loadConfig } from '@sip-pubsub/platform';
import { describe, expect, it } from 'vitest';
import { edgeConfigSchema } from './config.js';

describe('edge config: OWNER_LINK', () => {
  it('defaults to the stream link, takes unary, and refuses anything else naming the variable', () => {
    expect(loadConfig(edgeConfigSchema, {}).OWNER_LINK).toBe('stream');
    expect(loadConfig(edgeConfigSchema, { OWNER_LINK: 'unary' }).OWNER_LINK).toBe('unary');
    expect(() => loadConfig(edgeConfigSchema, { OWNER_LINK: 'grpc' })).toThrow(/OWNER_LINK/);
  });
});
