import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entityText, xmlText } from './arbitraries.testkit.js';
import {
  applyDirectoryInfo,
  buildDirectoryInfo,
  type DirectoryEntry,
  type DirectoryInfo,
  parseDirectoryInfo,
} from './directory-document.js';
import { EventDocumentError, VersionGapError } from './errors.js';

const directory: DirectoryInfo = {
  entity: 'sip:factory@example.com',
  state: 'full',
  version: 1,
  conferences: [
    {
      entity: 'sip:conf-aaaa@example.com',
      state: 'full',
      topic: 'plant-7/boiler/temp',
      publisherCount: 1,
      subscriberCount: 3,
    },
    { entity: 'sip:conf-bbbb@example.com', state: 'full', topic: 'Straße & <Öfen>' },
  ],
};

const directoryXml = `<?xml version="1.0" encoding="UTF-8"?>
<pubsub-conferences-info xmlns="urn:ietf:params:xml:ns:pubsub-conferences-info" entity="sip:factory@example.com" state="full" version="1">
  <pubsub-conference entity="sip:conf-aaaa@example.com" state="full">
    <topic>plant-7/boiler/temp</topic>
    <publisher-count>1</publisher-count>
    <subscriber-count>3</subscriber-count>
  </pubsub-conference>
  <pubsub-conference entity="sip:conf-bbbb@example.com" state="full">
    <topic>Straße &amp; &lt;Öfen&gt;</topic>
  </pubsub-conference>
</pubsub-conferences-info>`;

describe('directory document', () => {
  it('writes the topic directory', () => {
    expect(buildDirectoryInfo(directory)).toBe(directoryXml);
  });

  it('reads it back', () => {
    expect(parseDirectoryInfo(directoryXml)).toEqual(directory);
  });

  it('writes an empty directory as an empty root', () => {
    expect(buildDirectoryInfo({ entity: 'sip:factory@x', state: 'full', version: 0, conferences: [] })).toBe(
      `<?xml version="1.0" encoding="UTF-8"?>
<pubsub-conferences-info xmlns="urn:ietf:params:xml:ns:pubsub-conferences-info" entity="sip:factory@x" state="full" version="0"/>`,
    );
  });

  it('accepts a deleted entry without a topic and refuses other entries without one', () => {
    const partial = `<pubsub-conferences-info entity="sip:factory@x" state="partial" version="4">
      <pubsub-conference entity="sip:conf-a@x" state="deleted"/></pubsub-conferences-info>`;
    expect(parseDirectoryInfo(partial).conferences).toEqual([
      { entity: 'sip:conf-a@x', state: 'deleted', topic: '' },
    ]);
    expect(() =>
      parseDirectoryInfo(
        '<pubsub-conferences-info entity="f" version="1"><pubsub-conference entity="c"/></pubsub-conferences-info>',
      ),
    ).toThrow(EventDocumentError);
  });

  it.each([
    ['wrong root', '<conference-info entity="f" version="1"/>'],
    ['no version', '<pubsub-conferences-info entity="f"/>'],
    ['deleted document', '<pubsub-conferences-info entity="f" version="1" state="deleted"/>'],
    [
      'bad count',
      '<pubsub-conferences-info entity="f" version="1"><pubsub-conference entity="c"><topic>t</topic><publisher-count>-1</publisher-count></pubsub-conference></pubsub-conferences-info>',
    ],
  ])('rejects %s', (_name, xml) => {
    expect(() => parseDirectoryInfo(xml)).toThrow(EventDocumentError);
  });

  it('round-trips generated directories', () => {
    const entry: fc.Arbitrary<DirectoryEntry> = fc.record(
      {
        entity: entityText,
        state: fc.constantFrom('full' as const, 'partial' as const, 'deleted' as const),
        topic: xmlText,
        publisherCount: fc.nat(),
        subscriberCount: fc.nat(),
      },
      { requiredKeys: ['entity', 'state', 'topic'] },
    );
    const info: fc.Arbitrary<DirectoryInfo> = fc.record({
      entity: entityText,
      state: fc.constantFrom('full' as const, 'partial' as const),
      version: fc.nat({ max: 0xffff_ffff }),
      conferences: fc.array(entry, { maxLength: 5 }),
    });
    fc.assert(
      fc.property(info, (value) => {
        expect(parseDirectoryInfo(buildDirectoryInfo(value))).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });

  it('throws only EventDocumentError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (input) => {
        try {
          parseDirectoryInfo(
            `<pubsub-conferences-info entity="f" version="1">${input}</pubsub-conferences-info>`,
          );
          parseDirectoryInfo(input);
        } catch (error) {
          if (!(error instanceof EventDocumentError)) throw error;
        }
      }),
    );
  });
});

describe('applyDirectoryInfo', () => {
  it('adds, updates and removes topics from a partial document, and detects gaps', () => {
    const view = applyDirectoryInfo(undefined, directory);
    const next = applyDirectoryInfo(view, {
      entity: 'sip:factory@example.com',
      state: 'partial',
      version: 2,
      conferences: [
        {
          entity: 'sip:conf-aaaa@example.com',
          state: 'partial',
          topic: 'plant-7/boiler/temp',
          subscriberCount: 4,
        },
        { entity: 'sip:conf-bbbb@example.com', state: 'deleted', topic: '' },
        { entity: 'sip:conf-cccc@example.com', state: 'full', topic: 'new' },
      ],
    });
    expect(next).toEqual({
      entity: 'sip:factory@example.com',
      state: 'full',
      version: 2,
      conferences: [
        {
          entity: 'sip:conf-aaaa@example.com',
          state: 'full',
          topic: 'plant-7/boiler/temp',
          publisherCount: 1,
          subscriberCount: 4,
        },
        { entity: 'sip:conf-cccc@example.com', state: 'full', topic: 'new' },
      ],
    });
    expect(() => applyDirectoryInfo(next, { ...directory, state: 'partial', version: 4 })).toThrow(
      VersionGapError,
    );
    expect(() => applyDirectoryInfo(undefined, { ...directory, state: 'partial' })).toThrow('version gap');
  });
});
