// Builds the SIP transports SIP_TRANSPORTS asks for, each on its own port setting; tls and wss read
// the certificate files named in the configuration.
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '@sip-pubsub/platform';
import {
  type SipTransport,
  TcpTransport,
  TlsTransport,
  type TransportProtocol,
  UdpTransport,
  WsTransport,
} from '@sip-pubsub/sip';
import type { EdgeConfig } from './config.js';

type TransportConfig = Pick<
  EdgeConfig,
  | 'SIP_HOST'
  | 'SIP_PORT'
  | 'SIP_TLS_PORT'
  | 'SIP_WS_PORT'
  | 'SIP_WSS_PORT'
  | 'SIP_TRANSPORTS'
  | 'SIP_MAX_MESSAGE_SIZE'
  | 'SIP_UDP_RECV_BUFFER'
  | 'SIP_TLS_CERT_FILE'
  | 'SIP_TLS_KEY_FILE'
>;

/** `acceptOrigin` judges the Origin of WebSocket handshakes (ws-origins.ts). */
export async function createSipTransports(
  config: TransportConfig,
  acceptOrigin?: (origin: string | undefined) => boolean,
): Promise<SipTransport[]> {
  const host = config.SIP_HOST;
  const maxMessageSize = config.SIP_MAX_MESSAGE_SIZE;
  const needsPem = config.SIP_TRANSPORTS.some((t) => t === 'tls' || t === 'wss');
  const pem = needsPem ? await readPem(config) : undefined;
  return [...new Set(config.SIP_TRANSPORTS)].map((kind): SipTransport => {
    switch (kind) {
      case 'udp':
        return new UdpTransport({
          host,
          port: config.SIP_PORT,
          maxMessageSize,
          recvBufferSize: config.SIP_UDP_RECV_BUFFER,
        });
      case 'tcp':
        return new TcpTransport({ host, port: config.SIP_PORT, maxMessageSize });
      case 'tls':
        return new TlsTransport({ host, port: config.SIP_TLS_PORT, maxMessageSize, ...required(pem) });
      case 'ws':
        return new WsTransport({ host, port: config.SIP_WS_PORT, maxMessageSize, acceptOrigin });
      case 'wss':
        return new WsTransport({
          host,
          port: config.SIP_WSS_PORT,
          maxMessageSize,
          tls: required(pem),
          acceptOrigin,
        });
      default:
        throw new ConfigError('SIP_TRANSPORTS', `SIP_TRANSPORTS: unknown transport ${JSON.stringify(kind)}`);
    }
  });
}

/** Bound port of each listening transport, for logs, membership metadata and tests. */
export function listeningPorts(transports: SipTransport[]): Partial<Record<TransportProtocol, number>> {
  return Object.fromEntries(transports.map((t) => [t.protocol, t.address.port]));
}

async function readPem(config: TransportConfig): Promise<{ cert: string; key: string }> {
  const read = async (variable: 'SIP_TLS_CERT_FILE' | 'SIP_TLS_KEY_FILE'): Promise<string> => {
    const file = config[variable];
    if (!file) throw new ConfigError(variable, `${variable}: required for tls and wss, but it is not set`);
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError(
        variable,
        `${variable}: cannot read ${JSON.stringify(file)}: ${(err as Error).message}`,
      );
    }
  };
  const pem = { cert: await read('SIP_TLS_CERT_FILE'), key: await read('SIP_TLS_KEY_FILE') };
  try {
    createSecureContext(pem);
  } catch (err) {
    throw new ConfigError(
      'SIP_TLS_CERT_FILE',
      `SIP_TLS_CERT_FILE/SIP_TLS_KEY_FILE: not a usable PEM certificate and key: ${(err as Error).message}`,
    );
  }
  return pem;
}

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('certificate not loaded');
  return value;
}
