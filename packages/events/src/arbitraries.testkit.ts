// fast-check arbitraries shared by the tests of this package (excluded from the build).
import fc from 'fast-check';
import type { ConferenceEndpoint, ConferenceInfo, ConferenceUser } from './conference-info.js';

// Strings made of any code point XML can carry, rich in the ones that need escaping.
const xmlChar = fc.oneof(
  fc.constantFrom(
    '&',
    '<',
    '>',
    '"',
    "'",
    '\r',
    '\n',
    '\t',
    ' ',
    ']]>',
    '&amp;',
    '&#13;',
    '\u2028',
    '\uFEFF',
    '😀',
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
export const xmlText = fc
  .array(xmlChar, { maxLength: 12 })
  .map((parts) => parts.join('').replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, ''));
export const entityText = xmlText.filter((s) => s.length > 0);
const count = fc.nat({ max: 1_000_000 });
const state = fc.constantFrom('full' as const, 'partial' as const, 'deleted' as const);

const endpointArb: fc.Arbitrary<ConferenceEndpoint> = fc.record(
  {
    entity: entityText,
    state,
    status: fc.constantFrom(
      'connected' as const,
      'disconnected' as const,
      'on-hold' as const,
      'muted-via-focus' as const,
      'pending' as const,
      'alerting' as const,
      'dialing-in' as const,
      'dialing-out' as const,
      'disconnecting' as const,
    ),
    joiningMethod: fc.constantFrom('dialed-in' as const, 'dialed-out' as const, 'focus-owner' as const),
    media: fc.array(
      fc.record(
        {
          id: xmlText,
          type: fc.constant('text' as const),
          srcId: fc.nat({ max: 0xffff_ffff }),
          status: fc.constantFrom(
            'sendrecv' as const,
            'sendonly' as const,
            'recvonly' as const,
            'inactive' as const,
          ),
        },
        { requiredKeys: ['id', 'type', 'status'] },
      ),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: ['entity', 'status', 'media'] },
);

const userArb: fc.Arbitrary<ConferenceUser> = fc.record(
  {
    entity: entityText,
    displayText: xmlText,
    state,
    role: fc.constantFrom('publisher' as const, 'subscriber' as const, 'both' as const, 'inactive' as const),
    endpoints: fc.array(endpointArb, { maxLength: 2 }),
  },
  { requiredKeys: ['entity', 'state', 'endpoints'] },
);

export const conferenceInfoArb: fc.Arbitrary<ConferenceInfo> = fc.record(
  {
    entity: entityText,
    state,
    version: fc.nat({ max: 0xffff_ffff }),
    subject: xmlText,
    maximumUserCount: count,
    pubsub: fc
      .record(
        {
          maximumUserCountPublisher: count,
          maximumUserCountSubscriber: count,
          publisherCount: count,
          subscriberCount: count,
        },
        { requiredKeys: [] },
      )
      .filter((p) => Object.keys(p).length > 0),
    userCount: count,
    active: fc.boolean(),
    users: fc.array(userArb, { maxLength: 3 }),
  },
  { requiredKeys: ['entity', 'state', 'version', 'users'] },
);
