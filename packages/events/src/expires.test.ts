import { describe, expect, it } from 'vitest';
import { ALLOW_EVENTS, EVENT_PACKAGES, eventPackageFor } from './event-packages.js';
import { negotiateExpires } from './expires.js';

describe('negotiateExpires', () => {
  const conference = EVENT_PACKAGES.conference;
  const data = EVENT_PACKAGES['pubsub-data'];

  it.each([
    [conference, undefined, { ok: true, expires: 3600 }],
    [data, undefined, { ok: true, expires: 600 }],
    [conference, '0', { ok: true, expires: 0 }],
    [conference, '1', { ok: false, status: 423, minExpires: 60 }],
    [conference, '59', { ok: false, status: 423, minExpires: 60 }],
    [conference, '60', { ok: true, expires: 60 }],
    [conference, ' 1800 ', { ok: true, expires: 1800 }],
    [conference, '86400', { ok: true, expires: 86400 }],
    [conference, '86401', { ok: true, expires: 86400 }],
    [conference, '99999999999999999999999', { ok: true, expires: 86400 }],
    [data, '29', { ok: false, status: 423, minExpires: 30 }],
    [data, '30', { ok: true, expires: 30 }],
    [conference, 'abc', { ok: false, status: 400, reason: 'Invalid Expires value' }],
    [conference, '-5', { ok: false, status: 400, reason: 'Invalid Expires value' }],
    [conference, '3.5', { ok: false, status: 400, reason: 'Invalid Expires value' }],
    [conference, '', { ok: false, status: 400, reason: 'Invalid Expires value' }],
  ] as const)('%#: %o with %o', (spec, requested, decision) => {
    expect(negotiateExpires(spec, requested)).toEqual(decision);
  });
});

describe('event packages', () => {
  it('follow the profile table', () => {
    expect(EVENT_PACKAGES.conference).toMatchObject({
      contentType: 'application/conference-info+xml',
      defaultExpires: 3600,
      minExpires: 60,
    });
    expect(EVENT_PACKAGES['pubsub-conferences']).toMatchObject({
      contentType: 'application/pubsub-conferences-info+xml',
      defaultExpires: 3600,
      minExpires: 60,
    });
    expect(EVENT_PACKAGES['pubsub-data']).toMatchObject({
      contentType: 'application/senml+json',
      defaultExpires: 600,
      minExpires: 30,
    });
    expect(EVENT_PACKAGES.refer.contentType).toBe('message/sipfrag');
    for (const spec of Object.values(EVENT_PACKAGES)) expect(spec.maxExpires).toBe(86400);
    expect(ALLOW_EVENTS.split(', ').sort()).toEqual(Object.keys(EVENT_PACKAGES).sort());
  });

  it('finds the package an Event header names', () => {
    expect(eventPackageFor('conference')?.name).toBe('conference');
    expect(eventPackageFor(' pubsub-data ;id=7')?.name).toBe('pubsub-data');
    expect(eventPackageFor('presence')).toBeUndefined();
    expect(eventPackageFor('toString')).toBeUndefined();
    expect(eventPackageFor(undefined)).toBeUndefined();
  });
});
