export {
  type CertificateFiles,
  type PemPair,
  selfSignedCertificate,
  writeSelfSignedCertificate,
} from './self-signed.js';
