import { InvalidKvKeyError } from './kv.js';

// NATS KV key rules: these characters only, no empty '.'-separated token.
const KEY_CHARS = /^[-/_=.a-zA-Z0-9]+$/;
const BUCKET_NAME = /^[-_a-zA-Z0-9]+$/;

export function isValidKvKey(key: string): boolean {
  return KEY_CHARS.test(key) && !key.startsWith('.') && !key.endsWith('.') && !key.includes('..');
}

export function assertValidKvKey(key: string): void {
  if (!isValidKvKey(key)) throw new InvalidKvKeyError(`invalid KV key ${JSON.stringify(key)}`);
}

export function isValidBucketName(name: string): boolean {
  return BUCKET_NAME.test(name);
}

/*
 * Key part encoding. A part made only of [A-Za-z0-9_/-] is kept as is, so keys stay readable.
 * Anything else becomes '=' + base64url(UTF-8) without padding; since base64url never contains
 * '=', a part that is not well-formed UTF-16 (a lone surrogate) becomes '==' + base64url(UTF-16LE).
 * Plain parts never start with '=', so decoding is unambiguous.
 */
const PLAIN_PART = /^[-/_a-zA-Z0-9]+$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const BASE64URL = /^[-_a-zA-Z0-9]*$/;

export function encodeKvKeyPart(part: string): string {
  if (PLAIN_PART.test(part)) return part;
  if (LONE_SURROGATE.test(part)) return `==${Buffer.from(part, 'utf16le').toString('base64url')}`;
  return `=${Buffer.from(part, 'utf8').toString('base64url')}`;
}

/** Joins parts with '.', each encoded so that any string yields a valid key; reversible per part. */
export function kvKey(...parts: string[]): string {
  if (parts.length === 0) throw new InvalidKvKeyError('kvKey needs at least one part');
  return parts.map(encodeKvKeyPart).join('.');
}

export function decodeKvKeyPart(part: string): string {
  if (!part.startsWith('=')) {
    if (!PLAIN_PART.test(part))
      throw new InvalidKvKeyError(`not an encoded key part: ${JSON.stringify(part)}`);
    return part;
  }
  const utf16 = part.startsWith('==');
  const body = part.slice(utf16 ? 2 : 1);
  // Reject non-canonical base64url (stray trailing bits) so decoding stays the inverse of encoding.
  if (!BASE64URL.test(body) || body.length % 4 === 1) {
    throw new InvalidKvKeyError(`not an encoded key part: ${JSON.stringify(part)}`);
  }
  const bytes = Buffer.from(body, 'base64url');
  const text = utf16 ? bytes.toString('utf16le') : bytes.toString('utf8');
  if (encodeKvKeyPart(text) !== part)
    throw new InvalidKvKeyError(`not an encoded key part: ${JSON.stringify(part)}`);
  return text;
}

/** Splits a key made by kvKey back into its parts. */
export function decodeKvKey(key: string): string[] {
  return key.split('.').map(decodeKvKeyPart);
}
