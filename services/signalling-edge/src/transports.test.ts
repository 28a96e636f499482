import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '@sip-pubsub/platform';
import { writeSelfSignedCertificate } from '@sip-pubsub/sip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { edgeConfigSchema } from './config.js';
import { createSipTransports, listeningPorts } from './transports.js';

const certificate = writeSelfSignedCertificate();
afterAll(() => certificate.remove());
const { certFile, keyFile } = certificate;
// Other files these tests need go into the certificate's temporary directory, removed with it.
const dir = path.dirname(certFile);

const failure = (env: Record<string, string>): ConfigError => {
  try {
    loadConfig(edgeConfigSchema, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('edge transport settings', () => {
  it('keeps udp,tcp as the default and the RFC ports for the others', () => {
    const config = loadConfig(edgeConfigSchema, {});
    expect(config.SIP_TRANSPORTS).toEqual(['udp', 'tcp']);
    expect([config.SIP_TLS_PORT, config.SIP_WS_PORT, config.SIP_WSS_PORT]).toEqual([5061, 5066, 5067]);
  });

  it('accepts ws without a certificate', () => {
    expect(loadConfig(edgeConfigSchema, { SIP_TRANSPORTS: 'udp, TCP,ws' }).SIP_TRANSPORTS).toEqual([
      'udp',
      'tcp',
      'ws',
    ]);
  });

  it('names SIP_TRANSPORTS for an unknown transport', () => {
    const err = failure({ SIP_TRANSPORTS: 'udp,sctp' });
    expect(err.variable).toBe('SIP_TRANSPORTS');
  });

  it.each([
    [{ SIP_TRANSPORTS: 'tls' }, 'SIP_TLS_CERT_FILE', /required when SIP_TRANSPORTS includes tls/],
    [{ SIP_TRANSPORTS: 'udp,wss', SIP_TLS_CERT_FILE: '/x.pem' }, 'SIP_TLS_KEY_FILE', /includes wss/],
  ])('names the missing certificate variable for %j', (env, variable, message) => {
    const err = failure(env);
    expect(err.variable).toBe(variable);
    expect(err.message).toMatch(message);
  });

  it('names the certificate variable when its file cannot be read', async () => {
    const config = loadConfig(edgeConfigSchema, {
      SIP_TRANSPORTS: 'tls',
      SIP_TLS_CERT_FILE: path.join(dir, 'missing.pem'),
      SIP_TLS_KEY_FILE: keyFile,
    });
    const err = await createSipTransports(config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe('SIP_TLS_CERT_FILE');
    expect((err as ConfigError).message).toMatch(/cannot read/);
  });

  it('refuses a file that is not a PEM certificate', async () => {
    const junk = path.join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    const config = loadConfig(edgeConfigSchema, {
      SIP_TRANSPORTS: 'wss',
      SIP_TLS_CERT_FILE: junk,
      SIP_TLS_KEY_FILE: keyFile,
    });
    const err = await createSipTransports(config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/not a usable PEM/);
  });

  it('builds every transport on its own port setting', async () => {
    const config = loadConfig(edgeConfigSchema, {
      SIP_HOST: '127.0.0.1',
      SIP_PORT: '0',
      SIP_TLS_PORT: '0',
      SIP_WS_PORT: '0',
      SIP_WSS_PORT: '0',
      SIP_TRANSPORTS: 'udp,tcp,tls,ws,wss',
      SIP_TLS_CERT_FILE: certFile,
      SIP_TLS_KEY_FILE: keyFile,
    });
    const transports = await createSipTransports(config);
    try {
      expect(transports.map((t) => t.protocol)).toEqual(['udp', 'tcp', 'tls', 'ws', 'wss']);
      for (const t of transports) await t.listen();
      const ports = listeningPorts(transports);
      expect(Object.keys(ports)).toEqual(['udp', 'tcp', 'tls', 'ws', 'wss']);
      expect(new Set([ports.tcp, ports.tls, ports.ws, ports.wss]).size).toBe(4);
    } finally {
      for (const t of transports) await t.close();
    }
  });
});
