import { type DigestAlgorithm, digestHa1 } from './digest.js';

/**
 * Who may authenticate, as read from AUTH_CREDENTIALS_FILE or AUTH_CREDENTIALS. One entry per line
 * (or per comma in the environment form); `#` starts a comment line.
 *   user:password          a plain password; both MD5 and SHA-256 work
 *   user:realm:HA1         a stored hash H(user:realm:password): 32 hex digits MD5, 64 SHA-256
 * A user may have one HA1 line per algorithm. The realm of an HA1 line must be the configured realm.
 */
export class DigestCredentialsStore {
  private readonly passwords = new Map<string, string>();
  private readonly hashes = new Map<string, Partial<Record<'MD5' | 'SHA-256', string>>>();

  constructor(readonly realm: string) {}

  /** Parses the text form; throws CredentialsFormatError naming the line at fault. */
  static parse(
    text: string,
    realm: string,
    source = 'credentials',
    separators = /\r?\n/,
  ): DigestCredentialsStore {
    return new DigestCredentialsStore(realm).add(text, source, separators);
  }

  /** Adds the entries of another source (file and environment together); later entries win. */
  add(text: string, source = 'credentials', separators = /\r?\n/): this {
    text.split(separators).forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const where = `${source} entry ${index + 1}`;
      const first = line.indexOf(':');
      if (first <= 0) throw new CredentialsFormatError(`${where}: expected user:password or user:realm:HA1`);
      const user = line.slice(0, first);
      const rest = line.slice(first + 1);
      const hashed = /^(.*):([0-9a-fA-F]{32}|[0-9a-fA-F]{64})$/.exec(rest);
      if (hashed && hashed[1] === this.realm) {
        const algorithm = hashed[2].length === 32 ? 'MD5' : 'SHA-256';
        this.hashes.set(user, { ...this.hashes.get(user), [algorithm]: hashed[2].toLowerCase() });
        return;
      }
      if (hashed && !hashed[1].includes(':') && hashed[1] !== '') {
        throw new CredentialsFormatError(
          `${where}: realm "${hashed[1]}" is not the configured realm "${this.realm}"`,
        );
      }
      if (rest === '') throw new CredentialsFormatError(`${where}: empty password`);
      this.passwords.set(user, rest);
    });
    return this;
  }

  get size(): number {
    return new Set([...this.passwords.keys(), ...this.hashes.keys()]).size;
  }

  /** H(user:realm:password) for `algorithm` (the -sess variants share the base hash), or undefined. */
  ha1(username: string, algorithm: DigestAlgorithm): string | undefined {
    const base = algorithm.startsWith('SHA-256') ? 'SHA-256' : 'MD5';
    const password = this.passwords.get(username);
    if (password !== undefined) return digestHa1(base, username, this.realm, password);
    return this.hashes.get(username)?.[base];
  }
}

export class CredentialsFormatError extends Error {
  override readonly name = 'CredentialsFormatError';
}
