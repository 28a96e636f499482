import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientOptionsError, parseHostPort, resolveClientOptions } from './client-options.js';

describe('client options', () => {
  it('parses host:port, [v6]:port and a bare host', () => {
    expect(parseHostPort('127.0.0.1:5070')).toEqual({ host: '127.0.0.1', port: 5070 });
    expect(parseHostPort('[::1]:6000')).toEqual({ host: '::1', port: 6000 });
    expect(parseHostPort('broker.example.com')).toEqual({ host: 'broker.example.com', port: 5060 });
  });

  it('rejects what is not host:port, naming the value', () => {
    expect(() => parseHostPort('::1:5060')).toThrow(/put an IPv6 address in brackets/);
    expect(() => parseHostPort('host:99999')).toThrow(/port must be 1-65535/);
    expect(() => parseHostPort(':5060')).toThrow(ClientOptionsError);
  });

  it('parseHostPort throws only ClientOptionsError', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          const { port } = parseHostPort(text);
          expect(port).toBeGreaterThanOrEqual(1);
        } catch (err) {
          if (!(err instanceof ClientOptionsError)) throw err;
        }
      }),
    );
  });

  it('the user part defaults to the credentials username (From must name the authenticated user)', () => {
    const credentials = { username: 'alice', password: 'x' };
    expect(resolveClientOptions({ server: 'h', credentials }).user).toBe('alice');
    expect(resolveClientOptions({ server: 'h', credentials, user: 'other' }).user).toBe('other');
    expect(resolveClientOptions({ server: 'h' }).user).toBe('sip-pubsub-client');
  });

  it('derives T1 from requestTimeoutMs so Timer B/F = 64*T1 is the timeout', () => {
    const resolved = resolveClientOptions({ server: '127.0.0.1:5060', requestTimeoutMs: 6400 });
    expect(resolved.timers.T1).toBe(100);
    expect(resolved).toMatchObject({
      transport: 'udp',
      domain: 'localhost',
      localHost: '127.0.0.1',
      user: 'sip-pubsub-client',
    });
    expect(resolveClientOptions({ server: 'h', timers: { T1: 5 } }).timers.T1).toBe(5);
    expect(() => resolveClientOptions({ server: 'h', user: 'a b' })).toThrow(/not a valid SIP user part/);
  });
});
