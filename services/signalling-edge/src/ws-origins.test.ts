import { loadConfig } from '@sip-pubsub/platform';
import { describe, expect, it } from 'vitest';
import { edgeConfigSchema } from './config.js';
import { defaultAllowedOrigins, originJudge } from './ws-origins.js';

const config = (env: Record<string, string> = {}) =>
  loadConfig(edgeConfigSchema, { HTTP_PORT: '9090', ...env });

describe('SIP WebSocket origins', () => {
  it("defaults to the broker's own HTTP origins under each name it is reached by", () => {
    const origins = defaultAllowedOrigins(
      config({ SIP_ADVERTISE_HOST: '203.0.113.7', SIP_DOMAIN: 'sip.example' }),
    );
    expect(origins).toEqual(
      expect.arrayContaining([
        'http://localhost:9090',
        'http://127.0.0.1:9090',
        'http://[::1]:9090',
        'http://203.0.113.7:9090',
        'https://sip.example:9090',
      ]),
    );
    const judge = originJudge(config());
    expect(judge.accept('http://127.0.0.1:9090')).toBe(true);
    expect(judge.accept('http://127.0.0.1:9091')).toBe(false);
    expect(judge.accept('https://evil.example')).toBe(false);
    // No Origin: not a browser, so no page to protect.
    expect(judge.accept(undefined)).toBe(true);
  });

  it('SIP_WS_ALLOWED_ORIGINS replaces the default list', () => {
    const judge = originJudge(
      config({ SIP_WS_ALLOWED_ORIGINS: 'https://ops.example, http://10.0.0.5:8080' }),
    );
    expect(judge.allowed).toEqual(['https://ops.example', 'http://10.0.0.5:8080']);
    expect(judge.accept('https://ops.example')).toBe(true);
    expect(judge.accept('http://127.0.0.1:9090')).toBe(false);
  });

  it.each([
    'ops.example',
    'https://ops.example/',
    'https://ops.example/console',
    'ftp://ops.example',
    'https://OPS.example',
  ])('refuses SIP_WS_ALLOWED_ORIGINS=%j with a message naming the variable', (value) => {
    expect(() => config({ SIP_WS_ALLOWED_ORIGINS: value })).toThrow(/SIP_WS_ALLOWED_ORIGINS/);
  });
});
