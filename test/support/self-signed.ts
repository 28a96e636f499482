// The certificate fixture lives with the SIP package; system tests use its file-writing form.
export { type CertificateFiles, writeSelfSignedCertificate } from '@sip-pubsub/sip/testing';
