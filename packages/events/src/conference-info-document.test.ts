import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conferenceInfoArb } from './arbitraries.testkit.js';
import type { ConferenceInfo } from './conference-info.js';
import { buildConferenceInfo, parseConferenceInfo } from './conference-info-document.js';
import { EventDocumentError } from './errors.js';

const boilerTopic: ConferenceInfo = {
  entity: 'sip:conf-abcdefghijklmnop@example.com',
  state: 'full',
  version: 1,
  subject: 'plant-7/boiler/temp',
  maximumUserCount: 100,
  pubsub: {
    maximumUserCountPublisher: 10,
    maximumUserCountSubscriber: 90,
    publisherCount: 1,
    subscriberCount: 1,
  },
  userCount: 2,
  active: true,
  users: [
    {
      entity: 'sip:sensor-1@example.com',
      displayText: 'Boiler sensor',
      state: 'full',
      role: 'publisher',
      endpoints: [
        {
          entity: 'sip:sensor-1@192.0.2.10:5060',
          status: 'connected',
          joiningMethod: 'dialed-in',
          media: [{ id: '1', type: 'text', srcId: 305419896, status: 'sendonly' }],
        },
      ],
    },
    {
      entity: 'sip:dashboard@example.com',
      state: 'full',
      role: 'subscriber',
      endpoints: [
        {
          entity: 'sip:dashboard@192.0.2.20:5062',
          status: 'connected',
          joiningMethod: 'dialed-in',
          media: [{ id: '2', type: 'text', srcId: 4294967295, status: 'recvonly' }],
        },
      ],
    },
  ],
};

const boilerTopicXml = `<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" xmlns:ps="urn:ietf:params:xml:ns:pubsub-conference-info" entity="sip:conf-abcdefghijklmnop@example.com" state="full" version="1">
  <conference-description>
    <subject>plant-7/boiler/temp</subject>
    <maximum-user-count>100</maximum-user-count>
    <ps:maximum-user-count-publisher>10</ps:maximum-user-count-publisher>
    <ps:maximum-user-count-subscriber>90</ps:maximum-user-count-subscriber>
  </conference-description>
  <conference-state>
    <user-count>2</user-count>
    <active>true</active>
    <ps:publisher-count>1</ps:publisher-count>
    <ps:subscriber-count>1</ps:subscriber-count>
  </conference-state>
  <users>
    <user entity="sip:sensor-1@example.com" state="full">
      <display-text>Boiler sensor</display-text>
      <roles>
        <entry>publisher</entry>
      </roles>
      <endpoint entity="sip:sensor-1@192.0.2.10:5060">
        <status>connected</status>
        <joining-method>dialed-in</joining-method>
        <media id="1">
          <type>text</type>
          <src-id>305419896</src-id>
          <status>sendonly</status>
        </media>
      </endpoint>
    </user>
    <user entity="sip:dashboard@example.com" state="full">
      <roles>
        <entry>subscriber</entry>
      </roles>
      <endpoint entity="sip:dashboard@192.0.2.20:5062">
        <status>connected</status>
        <joining-method>dialed-in</joining-method>
        <media id="2">
          <type>text</type>
          <src-id>4294967295</src-id>
          <status>recvonly</status>
        </media>
      </endpoint>
    </user>
  </users>
</conference-info>`;

describe('buildConferenceInfo', () => {
  it('writes the full state of a topic with a publisher and a subscriber', () => {
    expect(buildConferenceInfo(boilerTopic)).toBe(boilerTopicXml);
  });

  it('escapes markup characters in the subject, display text and attributes', () => {
    const xml = buildConferenceInfo({
      entity: 'sip:conf-x@example.com;a="b"&c',
      state: 'full',
      version: 7,
      subject: `a&b <c> "d" 'e' ]]>`,
      users: [
        {
          entity: "sip:o'brien@example.com",
          displayText: 'Tom & "Jerry" <co>',
          state: 'full',
          endpoints: [],
        },
      ],
    });
    expect(xml).toBe(`<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:conf-x@example.com;a=&quot;b&quot;&amp;c" state="full" version="7">
  <conference-description>
    <subject>a&amp;b &lt;c&gt; "d" 'e' ]]&gt;</subject>
  </conference-description>
  <users>
    <user entity="sip:o&apos;brien@example.com" state="full">
      <display-text>Tom &amp; "Jerry" &lt;co&gt;</display-text>
    </user>
  </users>
</conference-info>`);
    const back = parseConferenceInfo(xml);
    expect(back.subject).toBe(`a&b <c> "d" 'e' ]]>`);
    expect(back.entity).toBe('sip:conf-x@example.com;a="b"&c');
    expect(back.users[0].displayText).toBe('Tom & "Jerry" <co>');
  });

  it('keeps CR, TAB and LF through a round trip by writing them as references', () => {
    const info: ConferenceInfo = {
      entity: 'sip:conf-x@example.com',
      state: 'full',
      version: 1,
      subject: 'line1\r\nline2\ttab',
      users: [{ entity: 'sip:a\tb\nc@x', state: 'full', endpoints: [] }],
    };
    const xml = buildConferenceInfo(info);
    expect(xml).toContain('<subject>line1&#13;\nline2\ttab</subject>');
    expect(xml).toContain('entity="sip:a&#9;b&#10;c@x"');
    expect(parseConferenceInfo(xml)).toEqual(info);
  });

  it('writes a partial document that deletes one user and changes another', () => {
    const xml = buildConferenceInfo({
      entity: 'sip:conf-abcdefghijklmnop@example.com',
      state: 'partial',
      version: 2,
      pubsub: { publisherCount: 0 },
      userCount: 1,
      users: [
        { entity: 'sip:sensor-1@example.com', state: 'deleted', endpoints: [] },
        {
          entity: 'sip:dashboard@example.com',
          state: 'partial',
          role: 'both',
          endpoints: [
            {
              entity: 'sip:dashboard@192.0.2.20:5062',
              state: 'partial',
              status: 'connected',
              media: [{ id: '2', type: 'text', status: 'sendrecv' }],
            },
          ],
        },
      ],
    });
    expect(xml).toBe(`<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" xmlns:ps="urn:ietf:params:xml:ns:pubsub-conference-info" entity="sip:conf-abcdefghijklmnop@example.com" state="partial" version="2">
  <conference-state>
    <user-count>1</user-count>
    <ps:publisher-count>0</ps:publisher-count>
  </conference-state>
  <users>
    <user entity="sip:sensor-1@example.com" state="deleted"/>
    <user entity="sip:dashboard@example.com" state="partial">
      <roles>
        <entry>both</entry>
      </roles>
      <endpoint entity="sip:dashboard@192.0.2.20:5062" state="partial">
        <status>connected</status>
        <media id="2">
          <type>text</type>
          <status>sendrecv</status>
        </media>
      </endpoint>
    </user>
  </users>
</conference-info>`);
  });

  it('refuses characters XML cannot carry and numbers out of range', () => {
    const base: ConferenceInfo = { entity: 'sip:conf-x@example.com', state: 'full', version: 1, users: [] };
    expect(() => buildConferenceInfo({ ...base, subject: 'bell\u0007' })).toThrow(EventDocumentError);
    expect(() => buildConferenceInfo({ ...base, subject: 'half \uD800 pair' })).toThrow(EventDocumentError);
    expect(() => buildConferenceInfo({ ...base, version: -1 })).toThrow(EventDocumentError);
    expect(() => buildConferenceInfo({ ...base, version: 2 ** 32 })).toThrow(EventDocumentError);
    expect(() => buildConferenceInfo({ ...base, userCount: 1.5 })).toThrow(EventDocumentError);
    expect(() => buildConferenceInfo({ ...base, entity: '' })).toThrow(EventDocumentError);
  });
});

describe('parseConferenceInfo', () => {
  it('reads the full-state vector back', () => {
    expect(parseConferenceInfo(boilerTopicXml)).toEqual(boilerTopic);
  });

  it('reads a document from another writer: prefixes, defaults, foreign roles and media', () => {
    const xml = `<?xml version="1.0"?>
<ci:conference-info xmlns:ci="urn:ietf:params:xml:ns:conference-info" xmlns:p="urn:ietf:params:xml:ns:pubsub-conference-info"
    entity="sips:conf-q@example.com" version="42">
  <ci:conference-description><ci:display-text>x</ci:display-text><ci:subject>t</ci:subject>
    <ci:available-media><ci:entry label="1"><ci:type>text</ci:type></ci:entry></ci:available-media>
    <p:maximum-user-count-publisher> 5 </p:maximum-user-count-publisher></ci:conference-description>
  <ci:conference-state><ci:active>0</ci:active><ci:locked>false</ci:locked></ci:conference-state>
  <ci:users>
    <ci:user entity="sip:bob@example.com">
      <ci:roles><ci:entry>participant</ci:entry><ci:entry>subscriber</ci:entry><ci:entry>publisher</ci:entry></ci:roles>
      <!-- a comment -->
      <ci:endpoint entity="sip:bob@pc"><ci:status>on-hold</ci:status><ci:joining-method>invited</ci:joining-method>
        <ci:media id="a"><ci:type>audio</ci:type><ci:status>sendrecv</ci:status></ci:media>
        <ci:media id="t"><ci:src-id>not-an-ssrc</ci:src-id><ci:status>inactive</ci:status></ci:media>
      </ci:endpoint>
    </ci:user>
  </ci:users>
</ci:conference-info>`;
    expect(parseConferenceInfo(xml)).toEqual({
      entity: 'sips:conf-q@example.com',
      state: 'full',
      version: 42,
      subject: 't',
      pubsub: { maximumUserCountPublisher: 5 },
      active: false,
      users: [
        {
          entity: 'sip:bob@example.com',
          state: 'full',
          role: 'both',
          endpoints: [
            {
              entity: 'sip:bob@pc',
              status: 'on-hold',
              media: [{ id: 't', type: 'text', status: 'inactive' }],
            },
          ],
        },
      ],
    });
  });

  it.each([
    ['empty', ''],
    ['not XML', 'hello'],
    ['unclosed', '<conference-info entity="e" version="1">'],
    ['wrong root', '<dialog-info entity="e" version="1"/>'],
    ['two roots', '<conference-info entity="e" version="1"/><conference-info entity="e" version="2"/>'],
    ['no entity', '<conference-info version="1"/>'],
    ['empty entity', '<conference-info entity="" version="1"/>'],
    ['no version', '<conference-info entity="e"/>'],
    ['bad version', '<conference-info entity="e" version="-1"/>'],
    ['version too big', '<conference-info entity="e" version="4294967296"/>'],
    ['bad state', '<conference-info entity="e" version="1" state="gone"/>'],
    [
      'bad count',
      '<conference-info entity="e" version="1"><conference-state><user-count>many</user-count></conference-state></conference-info>',
    ],
    [
      'bad media status',
      '<conference-info entity="e" version="1"><users><user entity="u"><endpoint entity="d"><status>connected</status><media id="1"><status>loud</status></media></endpoint></user></users></conference-info>',
    ],
    ['DOCTYPE', '<!DOCTYPE conference-info [<!ENTITY a "aaaa">]><conference-info entity="&a;" version="1"/>'],
    ['reserved name', '<conference-info entity="e" version="1"><__proto__/></conference-info>'],
  ])('rejects %s with EventDocumentError', (_name, xml) => {
    expect(() => parseConferenceInfo(xml)).toThrow(EventDocumentError);
  });

  it('throws only EventDocumentError on arbitrary input', () => {
    const xmlish = fc
      .array(
        fc.oneof(
          fc.constantFrom(
            '<conference-info',
            '</conference-info>',
            ' entity="e"',
            ' version="1"',
            '>',
            '/>',
            '<users>',
            '</users>',
            '<user entity="u">',
            '</user>',
            '<media id="1">',
            '&amp;',
            '&#0;',
            '<![CDATA[',
            ']]>',
            '<?xml version="1.0"?>',
          ),
          fc.string({ unit: 'binary', maxLength: 8 }),
        ),
        { maxLength: 25 },
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), xmlish), (input) => {
        try {
          parseConferenceInfo(input);
        } catch (error) {
          if (!(error instanceof EventDocumentError)) throw error;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('conference-info round trip', () => {
  it('parse(build(info)) gives info back', () => {
    fc.assert(
      fc.property(conferenceInfoArb, (info) => {
        expect(parseConferenceInfo(buildConferenceInfo(info))).toEqual(info);
      }),
      { numRuns: 500 },
    );
  });
});
