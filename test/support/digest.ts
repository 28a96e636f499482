// Digest answers for raw SIP tests, computed here with node:crypto (RFC 2617 §3.2.2 with qop=auth, MD5)
// so that what the tests check does not depend on packages/sip.
import { createHash, randomBytes } from 'node:crypto';
import type { RawResponse } from './raw-sip.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** One user's digest state: the nonce from the last challenge and the next nonce-count. */
export class DigestAccount {
  nonce = '';
  realm = '';
  nc = 0;
  readonly cnonce = randomBytes(6).toString('hex');

  constructor(
    readonly username: string,
    readonly password: string,
  ) {}

  /** Takes the MD5 challenge of a 401. */
  challenged(res: RawResponse): void {
    const offer = (res.headers.get('www-authenticate') ?? []).find((v) => /algorithm=MD5\b/.test(v));
    if (!offer) throw new Error(`no MD5 challenge in ${res.status}`);
    this.nonce = /nonce="([^"]+)"/.exec(offer)![1];
    this.realm = /realm="([^"]+)"/.exec(offer)![1];
    this.nc = 0;
  }

  /** An `Authorization:` header line for `method uri`, with the next nonce-count. */
  authorization(method: string, uri: string): string {
    this.nc++;
    const nc = this.nc.toString(16).padStart(8, '0');
    const ha1 = md5(`${this.username}:${this.realm}:${this.password}`);
    const response = md5(`${ha1}:${this.nonce}:${nc}:${this.cnonce}:auth:${md5(`${method}:${uri}`)}`);
    return `Authorization: Digest username="${this.username}", realm="${this.realm}", nonce="${this.nonce}", uri="${uri}", response="${response}", algorithm=MD5, cnonce="${this.cnonce}", qop=auth, nc=${nc}`;
  }
}
