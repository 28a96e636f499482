// A throw-away self-signed certificate for 127.0.0.1/localhost, written to a temporary directory so a
// broker can be pointed at it with SIP_TLS_CERT_FILE / SIP_TLS_KEY_FILE. Made with the openssl CLI.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  /** The certificate's PEM text, for clients to trust. */
  cert: string;
  remove(): void;
}

export function writeSelfSignedCertificate(): CertificateFiles {
  const dir = mkdtempSync(path.join(tmpdir(), 'sip-pubsub-cert-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return {
    certFile,
    keyFile,
    cert: readFileSync(certFile, 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
