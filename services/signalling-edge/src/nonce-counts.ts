// The edge's adapter for DigestAuthenticator's NonceCountStore: one KV create per authenticated request,
// keyed `<nonce>.<nc>` in a bucket whose entries expire with the nonce (AUTH_NONCE_TTL). Create-if-absent
// is atomic in JetStream KV (and in the in-process twin), so two replicas racing on one nonce-count
// cannot both accept it.
import { type KvBucket, KvConflictError, kvKey } from '@sip-pubsub/platform';
import type { NonceCountStore, NonceUse } from '@sip-pubsub/sip';

const USED = new Uint8Array([1]);

export class KvNonceCountStore implements NonceCountStore {
  constructor(private readonly bucket: KvBucket) {}

  async claim(use: NonceUse): Promise<boolean> {
    try {
      await this.bucket.create(kvKey(use.nonce, use.nc.toString(16)), USED);
      return true;
    } catch (err) {
      if (err instanceof KvConflictError) return false;
      throw err;
    }
  }
}
