// A throw-away self-signed certificate for 127.0.0.1 and localhost, for tests. Made with the openssl
// command line at test time, because node:crypto can make keys but not X.509 certificates.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface PemPair {
  cert: string;
  key: string;
}

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  /** The certificate's PEM text, for clients to trust. */
  cert: string;
  /** Deletes the temporary directory holding both files. */
  remove(): void;
}

/** Writes a fresh certificate and key to a new temporary directory, e.g. for SIP_TLS_CERT_FILE / SIP_TLS_KEY_FILE. */
export function writeSelfSignedCertificate(): CertificateFiles {
  const dir = mkdtempSync(path.join(tmpdir(), 'sip-pubsub-cert-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  try {
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
    return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), remove };
  } catch (err) {
    remove();
    throw err;
  }
}

let cached: PemPair | undefined;

/** The certificate and key as PEM text, made once per process; no files are left behind. */
export function selfSignedCertificate(): PemPair {
  if (cached) return cached;
  const files = writeSelfSignedCertificate();
  try {
    cached = { cert: files.cert, key: readFileSync(files.keyFile, 'utf8') };
    return cached;
  } finally {
    files.remove();
  }
}
