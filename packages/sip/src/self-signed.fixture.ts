// Test fixture (not exported): a throw-away self-signed certificate for 127.0.0.1 and localhost, made
// with the openssl command line at test time, because node:crypto can make keys but not X.509 certificates.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface PemPair {
  cert: string;
  key: string;
}

let cached: PemPair | undefined;

export function selfSignedCertificate(): PemPair {
  if (cached) return cached;
  const dir = mkdtempSync(path.join(tmpdir(), 'sip-cert-'));
  try {
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
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
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    cached = { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
