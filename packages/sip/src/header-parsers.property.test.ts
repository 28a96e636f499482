import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCSeq, parseCSeq } from './cseq.js';
import {
  type DigestChallenge,
  formatDigestChallenge,
  formatDigestCredentials,
  parseDigestChallenge,
  parseDigestCredentials,
} from './digest.js';
import { SipParseError } from './errors.js';
import { type EventHeader, formatEvent, parseEvent } from './event.js';
import { parseNameAddr } from './name-addr.js';
import { formatSubscriptionState, parseSubscriptionState } from './subscription-state.js';
import { parseUri } from './uri.js';
import { parseVia } from './via.js';

const parsers: Record<string, (text: string) => unknown> = {
  parseUri,
  parseNameAddr,
  parseVia,
  parseCSeq,
  parseEvent,
  parseSubscriptionState,
  parseDigestChallenge,
  parseDigestCredentials,
};

// Strings biased towards the characters these grammars care about.
const sipish = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      'sip:',
      'sips:',
      '@',
      ':',
      ';',
      '=',
      '"',
      '\\',
      '<',
      '>',
      ',',
      '[',
      ']',
      ' ',
      '?',
      '&',
      'SIP/2.0/UDP ',
      'Digest ',
      '%',
      '1',
    ),
    fc.string({ maxLength: 3 }),
  ),
  maxLength: 30,
});

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
const quotedSafe = fc.stringMatching(/^[ -~]{0,20}$/);

describe('header value parsers', () => {
  for (const [name, parse] of Object.entries(parsers)) {
    it(`${name} only ever throws SipParseError`, () => {
      fc.assert(
        fc.property(sipish, (text) => {
          try {
            parse(text);
          } catch (err) {
            if (!(err instanceof SipParseError)) throw err;
          }
        }),
        { numRuns: 500 },
      );
    });
  }

  it('CSeq, Event and Subscription-State round trip', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7fffffff }),
        fc.stringMatching(/^[A-Z]{2,10}$/),
        (seq, method) => {
          expect(parseCSeq(formatCSeq({ seq, method }))).toEqual({ seq, method });
        },
      ),
    );
    fc.assert(
      fc.property(token, fc.option(token, { nil: undefined }), (pkg, id) => {
        const value: EventHeader =
          id === undefined ? { package: pkg, params: {} } : { package: pkg, id, params: { id } };
        expect(parseEvent(formatEvent(value))).toEqual(value);
      }),
    );
    fc.assert(
      fc.property(fc.constantFrom('active', 'pending', 'terminated'), fc.nat(100_000), (state, expires) => {
        const text = formatSubscriptionState({ state, expires, params: {} });
        expect(parseSubscriptionState(text)).toEqual({
          state,
          expires,
          params: { expires: String(expires) },
        });
      }),
    );
  });

  it('digest challenges and credentials round trip', () => {
    const challenge: fc.Arbitrary<DigestChallenge> = fc.record(
      {
        realm: quotedSafe,
        nonce: quotedSafe,
        algorithm: fc.constantFrom('MD5' as const, 'SHA-256' as const, 'SHA-256-sess' as const),
        qop: fc.constant(['auth']),
        opaque: quotedSafe,
        stale: fc.constant(true),
      },
      { requiredKeys: ['realm', 'nonce'] },
    );
    fc.assert(
      fc.property(challenge, (c) => {
        expect(parseDigestChallenge(formatDigestChallenge(c))).toEqual(c);
      }),
    );
    fc.assert(
      fc.property(quotedSafe, quotedSafe, quotedSafe, (username, realm, nonce) => {
        const creds = {
          username,
          realm,
          nonce,
          uri: 'sip:a@example.com',
          response: 'abc123',
          cnonce: 'x',
          qop: 'auth',
          nc: '00000001',
        };
        expect(parseDigestCredentials(formatDigestCredentials(creds))).toEqual(creds);
      }),
    );
  });
});
