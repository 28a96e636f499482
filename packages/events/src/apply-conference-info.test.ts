import { describe, expect, it } from 'vitest';
import { applyConferenceInfo } from './apply-conference-info.js';
import type { ConferenceInfo } from './conference-info.js';
import { EventDocumentError, VersionGapError } from './errors.js';

const conf = 'sip:conf-abcdefghijklmnop@example.com';

function full(): ConferenceInfo {
  return {
    entity: conf,
    state: 'full',
    version: 1,
    subject: 'plant-7/boiler/temp',
    pubsub: { publisherCount: 1, subscriberCount: 1 },
    userCount: 2,
    users: [
      {
        entity: 'sip:sensor-1@example.com',
        displayText: 'Boiler',
        state: 'full',
        role: 'publisher',
        endpoints: [
          {
            entity: 'sip:sensor-1@pc',
            status: 'connected',
            joiningMethod: 'dialed-in',
            media: [{ id: '1', type: 'text', srcId: 11, status: 'sendonly' }],
          },
        ],
      },
      {
        entity: 'sip:dash@example.com',
        state: 'full',
        role: 'subscriber',
        endpoints: [
          {
            entity: 'sip:dash@pc',
            status: 'connected',
            media: [{ id: '2', type: 'text', status: 'recvonly' }],
          },
        ],
      },
    ],
  };
}

describe('applyConferenceInfo', () => {
  it('takes a full document as the view and does not alias it', () => {
    const update = full();
    const view = applyConferenceInfo(undefined, update);
    expect(view).toEqual(update);
    update.users[0].endpoints[0].media[0].status = 'inactive';
    expect(view.users[0].endpoints[0].media[0].status).toBe('sendonly');
  });

  it('adds, changes and deletes users from a partial document', () => {
    const before = applyConferenceInfo(undefined, full());
    const after = applyConferenceInfo(before, {
      entity: conf,
      state: 'partial',
      version: 2,
      pubsub: { publisherCount: 2 },
      userCount: 2,
      users: [
        { entity: 'sip:dash@example.com', state: 'deleted', endpoints: [] },
        {
          entity: 'sip:sensor-1@example.com',
          state: 'partial',
          role: 'both',
          endpoints: [
            {
              entity: 'sip:sensor-1@pc',
              state: 'partial',
              status: 'connected',
              media: [{ id: '1', type: 'text', srcId: 11, status: 'sendrecv' }],
            },
          ],
        },
        {
          entity: 'sip:sensor-2@example.com',
          state: 'full',
          role: 'publisher',
          endpoints: [
            {
              entity: 'sip:sensor-2@pc',
              status: 'connected',
              media: [{ id: '3', type: 'text', status: 'sendonly' }],
            },
          ],
        },
      ],
    });
    expect(after).toEqual({
      entity: conf,
      state: 'full',
      version: 2,
      subject: 'plant-7/boiler/temp',
      pubsub: { publisherCount: 2, subscriberCount: 1 },
      userCount: 2,
      users: [
        {
          entity: 'sip:sensor-1@example.com',
          displayText: 'Boiler',
          state: 'full',
          role: 'both',
          endpoints: [
            {
              entity: 'sip:sensor-1@pc',
              status: 'connected',
              joiningMethod: 'dialed-in',
              media: [{ id: '1', type: 'text', srcId: 11, status: 'sendrecv' }],
            },
          ],
        },
        {
          entity: 'sip:sensor-2@example.com',
          state: 'full',
          role: 'publisher',
          endpoints: [
            {
              entity: 'sip:sensor-2@pc',
              status: 'connected',
              media: [{ id: '3', type: 'text', status: 'sendonly' }],
            },
          ],
        },
      ],
    });
    // The previous view is left as it was.
    expect(before.users.map((u) => u.entity)).toEqual(['sip:sensor-1@example.com', 'sip:dash@example.com']);
  });

  it('removes an endpoint marked deleted and replaces one without a state', () => {
    const before = applyConferenceInfo(undefined, full());
    const after = applyConferenceInfo(before, {
      entity: conf,
      state: 'partial',
      version: 2,
      users: [
        {
          entity: 'sip:sensor-1@example.com',
          state: 'partial',
          endpoints: [
            { entity: 'sip:sensor-1@pc', state: 'deleted', status: 'disconnected', media: [] },
            { entity: 'sip:sensor-1@laptop', status: 'dialing-out', media: [] },
          ],
        },
      ],
    });
    expect(after.users[0].endpoints).toEqual([
      { entity: 'sip:sensor-1@laptop', status: 'dialing-out', media: [] },
    ]);
    expect(after.users[0].role).toBe('publisher');
  });

  it('detects a version gap, a repeat and a partial document without a view', () => {
    const view = applyConferenceInfo(undefined, full());
    const partial = (version: number): ConferenceInfo => ({
      entity: conf,
      state: 'partial',
      version,
      users: [],
    });
    const gap = (() => {
      try {
        applyConferenceInfo(view, partial(3));
      } catch (error) {
        return error;
      }
    })();
    expect(gap).toBeInstanceOf(VersionGapError);
    expect(gap).toBeInstanceOf(EventDocumentError);
    expect(gap).toMatchObject({ message: 'version gap', expected: 2, received: 3, stale: false });
    expect(() => applyConferenceInfo(view, partial(1))).toThrow(expect.objectContaining({ stale: true }));
    expect(() => applyConferenceInfo(undefined, partial(1))).toThrow('version gap');
    expect(applyConferenceInfo(view, partial(2)).version).toBe(2);
  });

  it('refuses a partial document for another conference', () => {
    const view = applyConferenceInfo(undefined, full());
    expect(() =>
      applyConferenceInfo(view, {
        entity: 'sip:conf-other@example.com',
        state: 'partial',
        version: 2,
        users: [],
      }),
    ).toThrow(EventDocumentError);
  });

  it('lets a full document replace the view whatever its version', () => {
    const view = applyConferenceInfo(undefined, full());
    const replacement: ConferenceInfo = {
      entity: conf,
      state: 'full',
      version: 9,
      subject: 'other',
      users: [],
    };
    expect(applyConferenceInfo(view, replacement)).toEqual(replacement);
    expect(applyConferenceInfo(view, { ...replacement, version: 1 })).toEqual({ ...replacement, version: 1 });
  });

  it('empties the view when the conference is deleted', () => {
    const view = applyConferenceInfo(undefined, full());
    expect(applyConferenceInfo(view, { entity: conf, state: 'deleted', version: 2, users: [] })).toEqual({
      entity: conf,
      state: 'deleted',
      version: 2,
      users: [],
    });
  });
});
