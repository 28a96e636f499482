import { negotiateTextOffer } from '@sip-pubsub/media';
import { describe, expect, it } from 'vitest';
import { buildMediaOffer, directionFor } from './media-offer.js';

describe('the SDP offer of a publisher and a subscriber', () => {
  const local = { address: '127.0.0.1', port: 40_000 };

  it('a publisher offers sendonly, which makes it a publisher (PROFILE "Roles from SDP")', () => {
    const offer = buildMediaOffer('publisher', local);
    expect(offer).toMatch(/^a=sendonly\r?$/m);
    expect(offer).toMatch(/^m=text 40000 RTP\/AVP 100 98\r?$/m);
    expect(offer).toMatch(/^a=fmtp:100 98\/98\/98\r?$/m);
    const summary = negotiateTextOffer(offer);
    expect(summary).toMatchObject({
      address: '127.0.0.1',
      port: 40_000,
      t140Pt: 98,
      redPt: 100,
      redundancy: 2,
      direction: 'sendonly',
      role: 'publisher',
    });
  });

  it('a subscriber offers recvonly', () => {
    const offer = buildMediaOffer('subscriber', local);
    expect(offer).toMatch(/^a=recvonly\r?$/m);
    expect(offer).not.toMatch(/sendonly/);
    expect(negotiateTextOffer(offer)).toMatchObject({
      direction: 'recvonly',
      role: 'subscriber',
      mode: 'translate',
    });
    expect(directionFor('subscriber')).toBe('recvonly');
  });

  it('offers the redundancy asked for, and plain T.140 for 0', () => {
    expect(negotiateTextOffer(buildMediaOffer('publisher', local, { redundancy: 3 })).redundancy).toBe(3);
    const plain = negotiateTextOffer(buildMediaOffer('publisher', local, { redundancy: 0 }));
    expect(plain.redPt).toBeUndefined();
    expect(plain.redundancy).toBe(0);
    expect(() => buildMediaOffer('publisher', local, { redundancy: 1.5 })).toThrow(RangeError);
  });
});
