import { randomBytes } from 'node:crypto';
import { BRANCH_MAGIC_COOKIE } from './via.js';

/** §8.1.1.7: magic cookie plus 96 random bits, unique across space and time. */
export function generateBranch(): string {
  return BRANCH_MAGIC_COOKIE + randomBytes(12).toString('hex');
}

/** §19.3: at least 32 random bits; we use 64. */
export function generateTag(): string {
  return randomBytes(8).toString('hex');
}

/** §8.1.1.4: 128 random bits, optionally `@host`. */
export function generateCallId(host?: string): string {
  const id = randomBytes(16).toString('hex');
  return host ? `${id}@${host}` : id;
}
